"""Local stand-ins for the SMS providers' HTTP APIs (the only fakes: the services are paid).

Each checks a request the way the provider documents it: method, path, authentication,
content type and required fields, and answers with the provider's documented success or
error body. Tests can script outages: an HTTP status, a Retry-After, or a slow answer.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-for-tests"
MESSAGEBIRD_KEY = "live_messagebirdkeyfortests"
HTTP_TOKEN = "bearer-token-for-tests"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass
class Reply:
    status: int = 0  # 0: the provider's normal success answer
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout when above the client's)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    fields: dict[str, Any]


class FakeGateway:
    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.received: list[Received] = []
        self.delivered: list[dict[str, Any]] = []  # messages the provider accepted
        self.replies: list[Reply] = []
        self._idempotency: dict[str, str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                gateway._handle(self)

            def do_GET(self) -> None:
                gateway._answer(self, 405, {"message": "method not allowed"})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeGateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # --- request handling ------------------------------------------------------------
    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout test)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        raw = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        check = getattr(self, f"_check_{self.provider}")
        status, error, fields = check(handler.path, headers, raw)
        with self._lock:
            self.received.append(Received(handler.path, headers, raw, fields))
            reply = self.replies.pop(0) if self.replies else Reply()
        if status:
            self._answer(handler, status, error)
            return
        if reply.delay:
            self._stop.wait(reply.delay)
        if reply.status:
            self._answer(handler, reply.status, reply.body, reply.headers)
            return
        with self._lock:
            self._answer(handler, *self._accept(fields, headers))

    def _accept(self, fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        if self.provider == "http":
            key = headers["idempotency-key"]
            if key in self._idempotency:  # documented contract: the same key is one message
                return 200, {"id": self._idempotency[key]}
            self._idempotency[key] = uuid.uuid4().hex
            self.delivered.append(fields)
            return 201, {"id": self._idempotency[key]}
        self.delivered.append(fields)
        if self.provider == "twilio":
            sid = "SM" + uuid.uuid4().hex
            return 201, {"sid": sid, "status": "queued", "to": fields["To"], "body": fields["Body"]}
        message_id = uuid.uuid4().hex
        return 201, {
            "id": message_id,
            "href": f"{self.base_url}/messages/{message_id}",
            "direction": "mt",
            "type": "sms",
            "originator": fields["originator"],
            "body": fields["body"],
            "reference": fields.get("reference"),
            "datacoding": fields.get("datacoding", "plain"),
            "recipients": {"totalCount": len(fields["recipients"]), "totalSentCount": 1},
        }

    # --- the providers' documented request formats -----------------------------------
    @staticmethod
    def _twilio_error(status: int, code: int, message: str) -> tuple[int, Any, dict[str, Any]]:
        return status, {"code": code, "message": message, "more_info": "", "status": status}, {}

    def _check_twilio(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, Any]]:
        if path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            return self._twilio_error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if headers.get("authorization") != expected:
            return self._twilio_error(401, 20003, "Authenticate")
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self._twilio_error(400, 20001, "Content-Type must be form-encoded")
        parsed = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=True)
        if any(len(values) != 1 for values in parsed.values()):
            return self._twilio_error(400, 20001, "repeated parameter")
        fields = {key: values[0] for key, values in parsed.items()}
        unknown = set(fields) - {"To", "From", "MessagingServiceSid", "Body"}
        if unknown:
            return self._twilio_error(400, 20001, f"unknown parameters {sorted(unknown)}")
        if not E164.fullmatch(fields.get("To", "")):
            return self._twilio_error(400, 21211, "The 'To' number is not a valid phone number.")
        if ("From" in fields) == ("MessagingServiceSid" in fields):
            return self._twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' is required")
        if not fields.get("Body"):
            return self._twilio_error(400, 21602, "Message body is required.")
        return 0, None, fields

    @staticmethod
    def _bird_error(
        status: int, code: int, description: str, parameter: str | None
    ) -> tuple[int, Any, dict[str, Any]]:
        return (
            status,
            {"errors": [{"code": code, "description": description, "parameter": parameter}]},
            {},
        )

    def _check_messagebird(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, Any]]:
        if path != "/messages":
            return self._bird_error(404, 20, "message not found", None)
        if headers.get("authorization") != f"AccessKey {MESSAGEBIRD_KEY}":
            return self._bird_error(
                401, 2, "Request not allowed (incorrect access_key)", "access_key"
            )
        if not headers.get("content-type", "").startswith("application/json"):
            return self._bird_error(400, 21, "Bad request (content type)", None)
        try:
            fields = json.loads(raw)
        except ValueError:
            return self._bird_error(400, 21, "Bad request (invalid JSON)", None)
        originator = fields.get("originator", "")
        if not (
            re.fullmatch(r"\+?[0-9]{1,17}", originator)
            or re.fullmatch(r"[A-Za-z0-9 ]{1,11}", originator)
        ):
            return self._bird_error(422, 9, "no (correct) originator given", "originator")
        recipients = fields.get("recipients")
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(re.fullmatch(r"[1-9][0-9]{6,14}", str(r)) for r in recipients)
        ):
            return self._bird_error(422, 9, "no (correct) recipients found", "recipients")
        if not isinstance(fields.get("body"), str) or not fields["body"]:
            return self._bird_error(422, 9, "no (correct) body given", "body")
        if fields.get("datacoding", "plain") not in ("plain", "unicode", "auto"):
            return self._bird_error(422, 9, "invalid datacoding", "datacoding")
        return 0, None, fields

    def _check_http(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, Any]]:
        if path != "/sms":
            return 404, {"message": "not found"}, {}
        if headers.get("authorization") != f"Bearer {HTTP_TOKEN}":
            return 401, {"message": "bad token"}, {}
        if not headers.get("content-type", "").startswith("application/json"):
            return 415, {"message": "JSON only"}, {}
        try:
            fields = json.loads(raw)
        except ValueError:
            return 400, {"message": "invalid JSON"}, {}
        if set(fields) != {"to", "from", "body", "reference"} or not E164.fullmatch(fields["to"]):
            return 422, {"message": f"bad fields {sorted(fields)}"}, {}
        if headers.get("idempotency-key") != fields["reference"]:
            return 422, {"message": "Idempotency-Key must equal reference"}, {}
        return 0, None, fields
