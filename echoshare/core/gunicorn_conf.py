"""How `echoshare web` runs gunicorn, and its access log without tokens or addresses.

An access line holds: method, path with any `/s/<token>` replaced by `/s/[token]` and the
query string left out (it may hold anything), status, bytes sent, duration, and the client
only as `client_hash` (a keyed hash whose key changes every UTC day). Example:

    GET /s/[token]/ 200 5123 12ms client=3fa2b1c9d0e14a77

gunicorn's own error log names a client's address (`ip=...`) when a request is malformed;
it is replaced by the same pseudonym.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.db import connections
from gunicorn import glogging

from echoshare.core.client_address import client_address, client_hash
from echoshare.core.logging import scrub, scrub_record

_IP_FIELD = re.compile(r"(ip=)\[?([0-9A-Fa-f:.]*[0-9A-Fa-f])\]?")


def access_line(*, environ: dict[str, Any], status: str, sent: int | None, millis: int) -> str:
    path = scrub(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    if environ.get("QUERY_STRING"):
        path += "?[query]"
    method = scrub(environ.get("REQUEST_METHOD", "-"))[:16]
    size = "-" if sent is None else str(sent)
    client = client_hash(client_address(environ))
    return f"{method} {path} {status.split(None, 1)[0]} {size} {millis}ms client={client}"


def hide_addresses(text: str) -> str:
    """gunicorn names a client only as `ip=<address>` (a malformed request)."""
    return _IP_FIELD.sub(lambda m: m.group(1) + client_hash(m.group(2)), text)


class _HideAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)  # message, traceback and stack: tokens out, one line each
        record.msg = hide_addresses(str(record.msg))
        if record.exc_text:
            record.exc_text = hide_addresses(record.exc_text)
        return True


class AccessLogger(glogging.Logger):
    """gunicorn's logger with our access line and address-free error lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, _HideAddresses) for f in self.error_log.filters):
            self.error_log.addFilter(_HideAddresses())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        try:
            millis = int(request_time.total_seconds() * 1000)
            status = resp.status if isinstance(resp.status, str) else str(resp.status)
            sent = getattr(resp, "sent", None)
            self.access_log.info(
                access_line(environ=environ, status=status, sent=sent, millis=millis)
            )
        except Exception:
            self.error_log.exception("could not write an access log line")


def _bind() -> str:
    host = settings.HTTP_HOST
    return f"[{host}]:{settings.HTTP_PORT}" if ":" in host else f"{host}:{settings.HTTP_PORT}"


def _post_fork(server: Any, worker: Any) -> None:
    # Never share the master's database connections with a forked worker.
    connections.close_all()


def gunicorn_options() -> dict[str, Any]:
    """gunicorn settings from ours (docs/configuration.md, Processes)."""
    return {
        "bind": [_bind()],
        "workers": settings.WEB_WORKERS,
        "worker_class": "gthread",
        "threads": settings.WEB_THREADS,
        "timeout": settings.WEB_TIMEOUT_SECONDS,
        "graceful_timeout": 20,
        "proc_name": "echoshare-web",
        "logger_class": "echoshare.core.gunicorn_conf.AccessLogger",
        "accesslog": "-" if settings.ACCESS_LOG else None,
        "errorlog": "-",
        "loglevel": settings.LOG_LEVEL,
        # Only a trusted proxy may tell gunicorn the scheme (X-Forwarded-Proto); the client
        # address is taken from X-Forwarded-For by client_address() with the same list.
        "forwarded_allow_ips": ",".join(settings.TRUSTED_PROXIES),
        "post_fork": _post_fork,
        # gunicorn's control socket is one fixed path per user: two servers would clash.
        "control_socket_disable": True,
    }
