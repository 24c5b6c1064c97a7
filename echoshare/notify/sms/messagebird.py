"""MessageBird (Bird) SMS REST API: POST /messages.

`Authorization: AccessKey <key>`, a JSON body with originator, recipients (MSISDNs: the
number without `+`), body, reference and datacoding; 201 with the message's `id`. Errors come
as {"errors": [{"code", "description", "parameter"}]}. `reference` is our message
reference (echoed in status reports); MessageBird does not dedupe on it.
"""

from __future__ import annotations

from django.conf import settings

from echoshare.notify.errors import NotDeliveredError
from echoshare.notify.sms.base import SmsBackend, post, response_json


class MessageBirdBackend(SmsBackend):
    name = "messagebird"

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        key = settings.MESSAGEBIRD_ACCESS_KEY
        if not key:
            raise NotDeliveredError("messagebird: ECHOSHARE_MESSAGEBIRD_ACCESS_KEY not set")
        payload = {
            "originator": sender,
            "recipients": [to.lstrip("+")],
            "body": body,
            "reference": reference,
            "datacoding": "auto",  # GSM-7 when it fits, Unicode otherwise
        }
        response = post(
            f"{settings.MESSAGEBIRD_BASE_URL}/messages",
            provider=self.name,
            json=payload,
            headers={"Authorization": f"AccessKey {key}", "Accept": "application/json"},
        )
        message_id = response_json(response, self.name).get("id")
        # A 2xx is an acceptance even if the body is not what the documentation shows.
        return str(message_id or "")
