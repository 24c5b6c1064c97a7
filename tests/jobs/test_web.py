"""`echoshare web`: gunicorn serves the app; its logs hold no link token, no client address."""

from __future__ import annotations

import signal
import socket
from datetime import UTC, date, datetime

import pytest
import requests

from echoshare.core.client_address import client_address, client_hash, key_folder
from echoshare.core.gunicorn_conf import access_line, gunicorn_options, hide_addresses
from tests.jobs.conftest import Processes, wait_for

TOKEN = "Zq3xV9kLmN2pR7sT4uWy8A"  # the shape of a link token: 22 base64url characters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_access_log_of_a_share_request_holds_no_token_and_no_address(
    processes: Processes,
) -> None:
    port = free_port()
    web = processes.start("web", ECHOSHARE_HTTP_PORT=str(port), ECHOSHARE_WEB_WORKERS="1")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(f"{base}/healthz"), timeout=120, what="the web server")
    response = requests.get(f"{base}/s/{TOKEN}/?lang=nl", timeout=10)
    assert response.status_code < 500
    # Static files are served with DEBUG off and without collectstatic (WhiteNoise).
    assert requests.get(f"{base}/static/admin/css/base.css", timeout=10).status_code == 200
    web.send_signal(signal.SIGTERM)
    assert web.wait(timeout=30) == 0

    log = processes.log(0, "web")
    lines = [line for line in log.splitlines() if " /s/" in line]
    assert lines, log
    assert TOKEN not in log
    assert "127.0.0.1" not in log.replace(f"127.0.0.1:{port}", "")  # only gunicorn's own bind
    assert f"GET /s/[token]/?[query] {response.status_code}" in lines[0]
    # The server made the day key in the DATA_DIR it shares with this test (processes
    # fixture); this process reads that key, so it computes the same pseudonym.
    assert (key_folder() / datetime.now(UTC).date().isoformat()).is_file()
    assert f"client={client_hash('127.0.0.1')}" in lines[0]


def test_an_access_line_has_method_path_status_size_duration_and_a_pseudonym() -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/s/{TOKEN}/media/1", "REMOTE_ADDR": "::1"}
    line = access_line(environ=environ, status="206 Partial Content", sent=1024, millis=7)
    assert line == f"GET /s/[token]/media/1 206 1024 7ms client={client_hash('::1')}"


def test_the_pseudonym_changes_every_day_and_differs_between_addresses() -> None:
    today, tomorrow = date(2026, 3, 1), date(2026, 3, 2)
    assert client_hash("203.0.113.9", day=today) == client_hash("203.0.113.9", day=today)
    assert client_hash("203.0.113.9", day=today) != client_hash("203.0.113.9", day=tomorrow)
    assert client_hash("203.0.113.9", day=today) != client_hash("203.0.113.10", day=today)


def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_forwarded_hop(settings) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]
    spoofed = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.9"}
    assert client_address(spoofed) == "203.0.113.9"
    via_two = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.1"}
    assert client_address(via_two) == "203.0.113.9"
    direct = {"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "1.1.1.1"}
    assert client_address(direct) == "198.51.100.7"  # not a proxy: its header means nothing


def test_gunicorn_error_lines_name_no_address() -> None:
    for address in ("203.0.113.9", "2001:db8::7"):
        text = hide_addresses(f"Invalid request from ip={address}: bad header")
        assert address not in text
        assert text == f"Invalid request from ip={client_hash(address)}: bad header"


def test_gunicorn_trusts_forwarded_headers_only_from_the_configured_proxies(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.1.2.3/32"]
    settings.HTTP_HOST, settings.HTTP_PORT = "::1", 8080
    options = gunicorn_options()
    assert options["forwarded_allow_ips"] == "10.1.2.3/32"
    assert options["bind"] == ["[::1]:8080"]


def test_gunicorn_error_tracebacks_hold_no_token_and_no_address() -> None:
    import logging
    import sys

    from echoshare.core.gunicorn_conf import _HideAddresses

    try:
        raise ValueError(f"Invalid request from ip=203.0.113.9 for /s/{TOKEN}/gallery")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Error handling request ip=%s",
        ("203.0.113.9",), exc_info,
    )  # fmt: skip
    assert _HideAddresses().filter(record)
    text = logging.Formatter().format(record)
    assert "ValueError" in text  # the traceback is still there, scrubbed
    assert TOKEN not in text and "203.0.113.9" not in text
    assert client_hash("203.0.113.9") in text
    assert record.exc_info is None  # no later handler can print the raw exception
