"""A generic SMS gateway: a JSON POST to ECHOSHARE_SMS_HTTP_URL (docs/messages.md).

Body {"to", "from", "body", "reference"}, `Authorization: Bearer <token>` and an
`Idempotency-Key` header that stays the same on every attempt of one message. The gateway
must answer 2xx (optionally with {"id": ...}) and must treat a repeated Idempotency-Key as
the same message, which is why a lost answer is simply sent again.
"""

from __future__ import annotations

from django.conf import settings

from echoshare.notify.errors import NotDeliveredError
from echoshare.notify.sms.base import SmsBackend, post, response_json


class HttpBackend(SmsBackend):
    name = "http"
    dedupes = True

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        if not settings.SMS_HTTP_URL:
            raise NotDeliveredError("http: ECHOSHARE_SMS_HTTP_URL not set")
        headers = {"Idempotency-Key": reference, "Accept": "application/json"}
        if settings.SMS_HTTP_TOKEN:
            headers["Authorization"] = f"Bearer {settings.SMS_HTTP_TOKEN}"
        response = post(
            settings.SMS_HTTP_URL,
            provider=self.name,
            json={"to": to, "from": sender, "body": body, "reference": reference},
            headers=headers,
        )
        return str(response_json(response, self.name).get("id") or reference)
