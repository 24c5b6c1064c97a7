"""Twilio Programmable Messaging: POST /2010-04-01/Accounts/{AccountSid}/Messages.json.

Form-encoded To, From (or MessagingServiceSid) and Body, HTTP Basic auth with the account
SID and auth token; 201 with the message resource, whose `sid` is the id. Errors carry
`code` and `message`. Twilio documents no idempotency key, so a lost answer is not resent.
"""

from __future__ import annotations

from django.conf import settings

from echoshare.notify.errors import NotDeliveredError
from echoshare.notify.sms.base import SmsBackend, post, response_json


class TwilioBackend(SmsBackend):
    name = "twilio"

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        sid, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not sid or not token:
            raise NotDeliveredError("twilio: ECHOSHARE_TWILIO_ACCOUNT_SID/AUTH_TOKEN not set")
        form = {"To": to, "Body": body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            form["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            form["From"] = sender
        url = f"{settings.TWILIO_BASE_URL}/2010-04-01/Accounts/{sid}/Messages.json"
        response = post(url, provider=self.name, data=form, auth=(sid, token))
        message_sid = response_json(response, self.name).get("sid")
        # A 2xx is an acceptance even if the body is not what the documentation shows.
        return str(message_sid or "")
