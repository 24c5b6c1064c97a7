"""The staff gate: second factor required everywhere under /staff/, idle sessions end."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.http import HttpResponse
from django.test import Client, RequestFactory

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.access import staff_required
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)


def test_a_password_only_session_does_not_reach_staff_pages_or_the_admin():
    user, _ = make_staff("anna", "administrator")
    client = Client()
    client.force_login(user)  # password, but no second factor
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/?next=")
    admin = client.get("/staff/admin/", follow=True)
    assert admin.redirect_chain[-1][0].startswith("/staff/login/?next=/staff/admin/")


def test_the_admin_login_page_sends_people_to_the_staff_login():
    response = Client().get("/staff/admin/login/?next=/staff/admin/clinic/patient/")
    assert response.status_code == 302
    assert response["Location"] == "/staff/login/?next=/staff/admin/clinic/patient/"


def test_a_verified_session_reaches_the_admin():
    user, device = make_staff("anna", "administrator")
    assert verified_client(user, device).get("/staff/admin/").status_code == 200


class TestStaffRequired:
    def _view(self, requirement):
        return staff_required(requirement)(lambda request: HttpResponse("ok"))

    def _request(self, user, device=None, accept="text/html"):
        request = RequestFactory().get("/staff/x", headers={"accept": accept})
        request.user = user
        user.otp_device = device
        user.is_verified = lambda: device is not None
        return request

    def test_it_lets_the_role_in_and_refuses_other_roles(self):
        from django.core.exceptions import PermissionDenied

        anna, anna_device = make_staff("anna", "sonographer")
        bert, bert_device = make_staff("bert", "frontdesk")
        view = self._view("sonographer")
        assert view(self._request(anna, anna_device)).status_code == 200
        with pytest.raises(PermissionDenied):
            view(self._request(bert, bert_device))

    def test_it_checks_a_permission(self):
        from django.core.exceptions import PermissionDenied

        anna, anna_device = make_staff("anna", "sonographer")
        bert, bert_device = make_staff("bert", "frontdesk")
        view = self._view("clinic.upload_dicom")
        assert view(self._request(anna, anna_device)).status_code == 200
        with pytest.raises(PermissionDenied):
            view(self._request(bert, bert_device))

    def test_without_the_second_factor_it_redirects_or_answers_401_to_json(self):
        anna, _ = make_staff("anna", "sonographer")
        view = self._view(None)
        assert view(self._request(anna)).status_code == 302
        assert view(self._request(anna, accept="application/json")).status_code == 401


def test_the_mixin_guards_class_based_views_the_same_way():
    from django.views import View

    from echoshare.clinic.access import StaffRequiredMixin

    class AuditPage(StaffRequiredMixin, View):
        staff_requirement = "audit.view_auditrecord"

        def get(self, request):
            return HttpResponse("ok")

    view = AuditPage.as_view()
    carla, carla_device = make_staff("carla", "administrator")
    bert, bert_device = make_staff("bert", "frontdesk")
    factory = RequestFactory()

    def request_as(user, device):
        request = factory.get("/staff/audit-page")
        request.user = user
        user.is_verified = lambda: device is not None
        return request

    from django.core.exceptions import PermissionDenied

    assert view(request_as(carla, carla_device)).status_code == 200
    assert view(request_as(carla, None)).status_code == 302
    with pytest.raises(PermissionDenied):
        view(request_as(bert, bert_device))


class TestIdleExpiry:
    def test_a_session_idle_longer_than_the_limit_ends_and_is_audited(self, settings):
        settings.STAFF_IDLE_MINUTES = 30
        user, device = make_staff("anna", "sonographer")
        with time_machine.travel(START, tick=False) as traveller:
            client = verified_client(user, device)
            assert client.get("/staff/").status_code == 200
            traveller.shift(dt.timedelta(minutes=29))
            assert client.get("/staff/").status_code == 200  # activity restarts the clock
            traveller.shift(dt.timedelta(minutes=29))
            assert client.get("/staff/").status_code == 200
            traveller.shift(dt.timedelta(minutes=31))
            response = client.get("/staff/admin/")
        assert response.status_code == 302
        assert response["Location"].startswith("/staff/login/")
        assert "_auth_user_id" not in client.session
        assert AuditRecord.objects.get(event=events.SESSION_EXPIRED).user == user

    def test_pages_outside_staff_do_not_touch_the_staff_clock(self, settings):
        settings.STAFF_IDLE_MINUTES = 30
        user, device = make_staff("anna", "sonographer")
        with time_machine.travel(START, tick=False) as traveller:
            client = verified_client(user, device)
            client.get("/staff/")
            traveller.shift(dt.timedelta(minutes=20))
            client.get("/healthz")
            traveller.shift(dt.timedelta(minutes=20))
            assert client.get("/staff/").status_code == 302


def test_staff_pages_send_a_same_origin_referrer_policy_so_their_forms_pass_csrf():
    # With the site-wide no-referrer, browsers send "Origin: null" and Django refuses the POST.
    assert Client().get("/staff/login/")["Referrer-Policy"] == "same-origin"
    assert Client().get("/healthz")["Referrer-Policy"] == "no-referrer"
