"""Benchmark: the portal serving patients' files, against nginx serving the same files.

    uv run python bench/portal/run.py [--seconds 10] [--connections 32]

Not a test. One run on loopback, everything measured in the same run (BENCHMARKS.md):
- nginx static with sendfile: a 50 MB MP4 and a 300 KB JPEG (the reference);
- the portal on its embedded default (`echoshare web`: gunicorn, SQLite, local files), the
  same two files through the real authorized media URL with a session cookie;
- requests per second of the gallery page;
- peak memory of the web server while 8 clients download the zip of a 300 MB share;
- the MP4 again with ECHOSHARE_PORTAL_MEDIA_OFFLOAD=x-accel behind nginx.
Needs `wrk`, `nginx` and `curl` (Debian: apt-get install wrk nginx-light curl).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
PASSWORD = "Kx7mPq4R"
DELETE_CODE = "AB7K"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def environment(work: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="echoshare.settings",
        ECHOSHARE_DATA_DIR=str(work / "data"),
        DATABASE_URL=f"sqlite:///{work / 'data' / 'bench.sqlite3'}",
        ECHOSHARE_SECURE_COOKIES="no",
        ECHOSHARE_ACCESS_LOG="no",
        ECHOSHARE_LOG_LEVEL="warning",
        ECHOSHARE_ROLE="portal",
        ECHOSHARE_PORTAL_BURST_LIMIT="100000",
    )
    env.update(extra)
    return env


def prepare(work: Path) -> dict[str, str]:
    """Migrate a fresh database and publish the shares through the portal's own service."""
    (work / "data").mkdir()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("prepare.py"))],
        env=environment(work), cwd=REPO, check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@contextmanager
def portal(work: Path, port: int, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "echoshare.cli", "web", "--bind", f"127.0.0.1:{port}"],
        env=environment(work, **extra), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


NGINX_CONF = """
worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    types {{ video/mp4 mp4; image/jpeg jpg; }}
    server {{
        listen 127.0.0.1:{static_port};
        root {media};
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location {prefix} {{
            internal;
            alias {media}/;
        }}
    }}
}}
"""


@contextmanager
def nginx(work: Path, *, static_port: int, proxy_port: int, upstream_port: int) -> Iterator[None]:
    conf = work / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            work=work,
            media=work / "data" / "portal-media",
            static_port=static_port,
            proxy_port=proxy_port,
            upstream_port=upstream_port,
            prefix="/protected-media/",
        )
    )
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)])
    try:
        wait_for_port(static_port)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def session_cookie(base: str, token: str) -> str:
    """Open the share as a patient does: GET the link page, POST the password."""
    with requests.Session() as http:
        http.get(f"{base}/s/{token}", timeout=30).raise_for_status()
        answer = http.post(
            f"{base}/s/{token}",
            data={"password": PASSWORD, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        if answer.status_code != 302:
            raise RuntimeError(f"password not accepted: {answer.status_code}")
        return f"sessionid={http.cookies['sessionid']}"


_SIZE = {"B": 1, "KB": 1024, "MB": MB, "GB": 1024 * MB}


def wrk(url: str, *, seconds: int, connections: int, cookie: str = "") -> tuple[float, float]:
    """Requests per second and MB per second."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    rate = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    assert rate is not None, out
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: errors\n{out}")
    return rps, float(rate.group(1)) * _SIZE[rate.group(2)] / MB


def tree_rss_mb(pid: int) -> dict[int, float]:
    """Resident memory (MB) of a process and each of its descendants."""
    sizes: dict[int, float] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            rss = re.search(r"VmRSS:\s+(\d+)", status)
            sizes[current] = int(rss.group(1)) / 1024 if rss else 0.0
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sizes


def zip_peak_memory(
    base: str, token: str, cookie: str, pid: int, clients: int
) -> tuple[float, float, float, int]:
    """While `clients` download the zip at once: the largest process's RSS before and at
    its peak, the whole server's peak, and the smallest download's size."""
    before = tree_rss_mb(pid)
    peak_process, peak_total = max(before.values()), sum(before.values())
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_process, peak_total
        while not done.is_set():
            sizes = tree_rss_mb(pid)
            peak_process = max(peak_process, *sizes.values())
            peak_total = max(peak_total, sum(sizes.values()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}"]
    downloads = [
        subprocess.Popen(
            [*command, "-H", f"Cookie: {cookie}", f"{base}/s/{token}/zip"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(clients)
    ]
    sizes = [int(d.communicate()[0] or 0) for d in downloads]
    done.set()
    sampler.join()
    return max(before.values()), peak_process, peak_total, min(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are printed")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install wrk nginx-light curl")
    with tempfile.TemporaryDirectory(prefix="echoshare-bench-") as folder:
        work = Path(folder)
        work.chmod(0o755)  # nginx's workers run as another user
        print("preparing shares (50 MB clip, 300 KB photos, a 300 MB share) ...", flush=True)
        ids = prepare(work)
        run(
            work,
            ids,
            runs=args.runs,
            load={"seconds": args.seconds, "connections": args.connections},
        )


@dataclass
class Servers:
    static: str  # nginx, the files themselves
    stream: str  # echoshare web, ECHOSHARE_PORTAL_MEDIA_OFFLOAD=stream
    offload: str  # nginx in front of echoshare web in x-accel mode
    stream_pid: int


def one_round(
    servers: Servers, ids: dict[str, str], cookies: dict[str, str], load: dict[str, int]
) -> dict[str, float]:
    """Each figure once; reference and portal alternate, so the machine's load falls on both."""
    token, figures = ids["token"], {}
    media, offloaded = f"{servers.stream}/s/{token}/m", f"{servers.offload}/s/{token}/m"
    figures["nginx_mp4"] = wrk(f"{servers.static}/{ids['clip_key']}", **load)[1]
    figures["mp4"] = wrk(f"{media}/{ids['clip_id']}/full", cookie=cookies["stream"], **load)[1]
    figures["offloaded_mp4"] = wrk(
        f"{offloaded}/{ids['clip_id']}/full", cookie=cookies["offload"], **load
    )[1]
    figures["nginx_jpeg"] = wrk(f"{servers.static}/{ids['photo_key']}", **load)[0]
    figures["jpeg"] = wrk(f"{media}/{ids['photo_id']}/full", cookie=cookies["stream"], **load)[0]
    figures["offloaded_jpeg"] = wrk(
        f"{offloaded}/{ids['photo_id']}/full", cookie=cookies["offload"], **load
    )[0]
    figures["gallery"] = wrk(
        f"{servers.stream}/s/{token}/gallery", cookie=cookies["stream"], **load
    )[0]
    return figures


def report(
    figures: dict[str, float],
    zip_figures: tuple[float, float, float, int],
    runs: int,
    load: dict[str, int],
) -> None:
    f = figures
    idle, peak, total, size = zip_figures
    mp4, jpeg = f["nginx_mp4"], f["nginx_jpeg"]
    rows = [
        ("nginx static, sendfile: 50 MB MP4", f"{mp4:.0f} MB/s", "1"),
        ("nginx static, sendfile: 300 KB JPEG", f"{jpeg:.0f} req/s", "1"),
        ("portal, authorized: 50 MB MP4", f"{f['mp4']:.0f} MB/s", f"{f['mp4'] / mp4:.2f}"),
        ("portal, authorized: 300 KB JPEG", f"{f['jpeg']:.0f} req/s", f"{f['jpeg'] / jpeg:.2f}"),
        ("portal: gallery page", f"{f['gallery']:.0f} req/s", "-"),
        ("nginx + portal X-Accel-Redirect: 300 KB JPEG", f"{f['offloaded_jpeg']:.0f} req/s",
         f"{f['offloaded_jpeg'] / jpeg:.2f}"),
        ("nginx + portal X-Accel-Redirect: 50 MB MP4", f"{f['offloaded_mp4']:.0f} MB/s",
         f"{f['offloaded_mp4'] / mp4:.2f}"),
        (f"portal: 8 clients download a {size / MB:.0f} MB zip",
         f"worker {idle:.0f} -> {peak:.0f} MB, all {total:.0f} MB", "-"),
    ]  # fmt: skip
    print(
        f"\nwrk -t2 -c{load['connections']} -d{load['seconds']}s, loopback, {os.cpu_count()} cores,"
    )
    print(f"median of {runs} rounds; portal: `echoshare web` (gunicorn gthread, default workers)\n")
    print(f"| {'what':<46} | {'measured':<30} | ratio to nginx |")
    print(f"|{'-' * 48}|{'-' * 32}|----------------|")
    for what, measured, ratio in rows:
        print(f"| {what:<46} | {measured:<30} | {ratio:<14} |")
    print("\ntargets: MP4 >= 0.7 (embedded), >= 0.95 (offloaded); JPEG >= 0.15; zip < 150 MB")


def run(work: Path, ids: dict[str, str], *, runs: int, load: dict[str, int]) -> None:
    ports = {name: free_port() for name in ("static", "proxy", "stream", "offload")}
    offload_env = {"ECHOSHARE_PORTAL_MEDIA_OFFLOAD": "x-accel", "ECHOSHARE_BEHIND_PROXY": "yes"}
    with (
        nginx(
            work,
            static_port=ports["static"],
            proxy_port=ports["proxy"],
            upstream_port=ports["offload"],
        ),
        portal(work, ports["stream"]) as stream,
        portal(work, ports["offload"], **offload_env),
    ):
        servers = Servers(
            static=f"http://127.0.0.1:{ports['static']}",
            stream=f"http://127.0.0.1:{ports['stream']}",
            offload=f"http://127.0.0.1:{ports['proxy']}",
            stream_pid=stream.pid,
        )
        cookies = {
            "stream": session_cookie(servers.stream, ids["token"]),
            "offload": session_cookie(servers.offload, ids["token"]),
        }
        rounds = [one_round(servers, ids, cookies, load) for _ in range(runs)]
        big_cookie = session_cookie(servers.stream, ids["big_token"])
        zip_figures = zip_peak_memory(
            servers.stream, ids["big_token"], big_cookie, servers.stream_pid, 8
        )
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    report(medians, zip_figures, runs, load)


if __name__ == "__main__":
    main()
