"""x-accel mode with a real nginx in front: the portal checks access, nginx sends the bytes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.portal.factories import PASSWORD, make_share, mp4_bytes

pytestmark = pytest.mark.django_db(transaction=True)

NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $http_host;
        }}
        location /protected-media/ {{
            internal;
            alias {media}/;
            # as in docs/deployment.md
            add_header X-Content-Type-Options "nosniff" always;
            add_header Referrer-Policy "no-referrer" always;
            add_header X-Robots-Tag "noindex, nofollow" always;
            add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def nginx_front(live_server, settings, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.PORTAL_MEDIA_OFFLOAD = "x-accel"
    settings.PORTAL_X_ACCEL_PREFIX = "/protected-media/"
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            # The test's folders are private to this user: let the workers read them.
            user="user root;" if os.geteuid() == 0 else "",
            work=tmp_path,
            port=port,
            upstream=live_server.url,
            media=Path(settings.PORTAL_MEDIA_DIR).resolve(),
        )
    )
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)])
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline, (tmp_path / "error.log").read_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _opened(base: str, token: str) -> requests.Session:
    http = requests.Session()
    http.get(f"{base}/s/{token}", timeout=10).raise_for_status()
    answer = http.post(
        f"{base}/s/{token}",
        data={"password": PASSWORD, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return http


def test_nginx_sends_ranges_of_the_clip_once_the_portal_allowed_it(nginx_front: str) -> None:
    share, token = make_share()
    clip = share.items.get(kind="clip")
    url = f"{nginx_front}/s/{token}/m/{clip.public_id}"
    with _opened(nginx_front, token) as http:
        ranged = http.get(f"{url}/full", headers={"Range": "bytes=0-9"}, timeout=10)
        assert ranged.status_code == 206
        assert ranged.content == mp4_bytes()[:10]
        assert ranged.headers["Content-Range"] == f"bytes 0-9/{len(mp4_bytes())}"
        assert ranged.headers["Content-Type"] == "video/mp4"
        whole = http.get(f"{url}/download", timeout=10)
        assert whole.content == mp4_bytes()
        assert whole.headers["Content-Disposition"].startswith('attachment; filename="echo-clip')
        assert "ETag" in whole.headers and "Last-Modified" in whole.headers
        # echoshare's own header passes, and the documented location adds the others.
        assert whole.headers["Cache-Control"] == "no-store"
        assert whole.headers["X-Content-Type-Options"] == "nosniff"
        assert whole.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in whole.headers["Content-Security-Policy"]


def test_nginx_sends_nothing_without_the_password_or_from_its_internal_path(
    nginx_front: str,
) -> None:
    share, token = make_share()
    clip = share.items.get(kind="clip")
    assert (
        requests.get(f"{nginx_front}/s/{token}/m/{clip.public_id}/full", timeout=10).status_code
        == 403
    )
    direct = requests.get(f"{nginx_front}/protected-media/{clip.file_key}", timeout=10)
    assert direct.status_code == 404
