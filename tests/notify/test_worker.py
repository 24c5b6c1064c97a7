"""A queued message is sent by the real task worker process after the commit."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.db import connection, transaction

from echoshare.notify.models import Message
from echoshare.notify.services import message_queue
from echoshare.notify.sms.file import sms_outbox_dir
from tests.notify.conftest import LINK, link_context


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_a_message_queued_in_a_committed_transaction(settings: Any) -> None:
    with transaction.atomic():
        message = message_queue(
            kind="share_link",
            channel="sms",
            recipient="+31612345678",
            language="nl",
            context=link_context(),
            patient_ref="PAT-001",
            idempotency_key="share:1:sms",
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ECHOSHARE_DATA_DIR": str(settings.DATA_DIR),
        "ECHOSHARE_SMS_BACKEND": "file",
        "ECHOSHARE_CLINIC_SECRETS_KEY": settings.CLINIC_SECRETS_KEY,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    message.refresh_from_db()
    assert message.state == Message.State.SENT
    [written] = sms_outbox_dir().glob("*.txt")
    assert LINK in written.read_text()
    assert LINK not in result.stderr + result.stdout  # the worker's log holds no link
