"""Staff pages of the clinic app (mounted under /staff/) and the booking API."""

from __future__ import annotations

from django.urls import include, path

from echoshare.clinic import api, views

app_name = "clinic"

urlpatterns = [
    path("", views.staff_home, name="home"),
    path("login/", views.staff_login, name="login"),
    path("logout/", views.staff_logout, name="logout"),
    path("", include("echoshare.clinic.staff.urls")),  # the staff pages (names: clinic:today ...)
    path("api/v1/appointments", api.appointments, name="api-appointments"),
    path(
        "api/v1/appointments/<str:accession_number>",
        api.appointment_detail,
        name="api-appointment",
    ),
    path(
        "api/v1/appointments/<str:accession_number>/cancel",
        api.appointment_cancel,
        name="api-appointment-cancel",
    ),
]
