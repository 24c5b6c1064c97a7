"""An HTTP proxy in front of the portal that forwards a request and then answers too late:
the portal made the share, but the clinic never hears back (a timeout after creation)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

FORWARDED = ("Authorization", "Idempotency-Key", "Content-Type", "Accept")


class SlowProxy:
    def __init__(self, target: str, *, slow_path: str, slow_times: int, delay: float) -> None:
        self.target = target.rstrip("/")
        self.slow_path = slow_path
        self.slow_left = slow_times
        self.delay = delay
        self.forwarded: list[tuple[str, str, int]] = []  # method, path, portal status
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SlowProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _take_slow(self, method: str, path: str) -> bool:
        with self._lock:
            if method == "POST" and path == self.slow_path and self.slow_left > 0:
                self.slow_left -= 1
                return True
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k in FORWARDED if (v := self.headers.get(k))}
                answer = requests.request(
                    method, proxy.target + self.path, data=body, headers=headers, timeout=60
                )
                proxy.forwarded.append((method, self.path.split("?")[0], answer.status_code))
                if proxy._take_slow(method, self.path.split("?")[0]):
                    time.sleep(proxy.delay)  # the portal has answered; the clinic gave up
                try:
                    self.send_response(answer.status_code)
                    for name in ("Content-Type", "Idempotent-Replayed"):
                        if name in answer.headers:
                            self.send_header(name, answer.headers[name])
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except OSError:
                    pass  # the client is gone

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        return Handler
