"""H2: many patients streaming at once from the real web server (`echoshare web`: gunicorn,
the media shortcut and Django behind it) on the test database.

Ten shares with distinct files, each opened in its own session (link page, password with the
form's CSRF token); then twenty threads fetch random byte ranges of their own share's clip
and photos for a few seconds, and now and then reach for another share's items. No answer
may be a 5xx, every body must be exactly the asked bytes of the session's own file, and
another share's items must stay closed (403 under its token, 404 under ours).
"""

from __future__ import annotations

import io
import random
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from PIL import Image

from echoshare.lib.secrets import normalize_delete_code
from echoshare.portal.models import Clinic, ShareItem
from echoshare.portal.services import ItemUpload, share_create
from tests.portal import processes
from tests.portal.factories import DELETE_CODE, PASSWORD, cheap_argon2_hash, make_clinic

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHARES = 10
THREADS = 20  # two at a time in each session, as a player and the gallery's images are
STREAM_SECONDS = 4.0
MIN_FETCHES = 10  # per thread, however slow the machine: the test always does some work
FOREIGN_SHARE = 0.15  # of the requests: another share's item, which must stay closed
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SERVER_ERROR_LINE = re.compile(r" 5\d\d \S+ \d+ms client=")  # gunicorn_conf.access_line


@dataclass(frozen=True)
class Patient:
    token: str
    media: dict[str, bytes]  # URL path of each of the share's clip and photos -> its bytes
    cookies: dict[str, str]  # of the session that gave this share's password


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`echoshare web` with its default two workers on a free port; stopped afterwards."""
    port = processes.free_port()
    log_path = tmp_path / "web.log"
    env = {
        "ECHOSHARE_HTTP_PORT": str(port),
        "ECHOSHARE_WEB_WORKERS": "2",
        "ECHOSHARE_SECURE_COOKIES": "false",  # plain HTTP on loopback
    }
    process = processes.start("web", log_path, **env)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for(lambda: processes.answers(f"{base}/healthz"), process, "the web server")
        yield base, log_path
    finally:
        processes.stop(process)


# --- shares with files of their own ---------------------------------------------------------


def _noise_clip(seed: int, frames: int = 10, width: int = 240, height: int = 180) -> bytes:
    """An H.264 MP4 (moov first) of random pixels: a few hundred KB, unlike any other seed's."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as folder:  # +faststart rewrites the file: a real one
        path = Path(folder) / "clip.mp4"
        with av.open(
            str(path), mode="w", format="mp4", options={"movflags": "+faststart"}
        ) as container:
            stream = container.add_stream("libx264", rate=20)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast"}
            for _ in range(frames):
                pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode(None))
        return path.read_bytes()


def _noise_photo(seed: int, width: int = 320, height: int = 240) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=85)
    return out.getvalue()


def _share_with_own_files(clinic: Clinic, seed: int) -> tuple[str, dict[str, bytes]]:
    """A share of two photos and a clip made for it alone; its token and its media paths."""
    files = [_noise_photo(seed * 10 + 1), _noise_photo(seed * 10 + 2), _noise_clip(seed)]
    thumbnail = _noise_photo(seed * 10 + 3, 32, 24)
    items = [
        ItemUpload(kind="still", file=io.BytesIO(files[0]), thumbnail=io.BytesIO(thumbnail)),
        ItemUpload(kind="still", file=io.BytesIO(files[1]), thumbnail=io.BytesIO(thumbnail)),
        ItemUpload(
            kind="clip",
            file=io.BytesIO(files[2]),
            thumbnail=io.BytesIO(thumbnail),
            poster=io.BytesIO(thumbnail),
        ),
    ]
    created = share_create(
        clinic=clinic,
        idempotency_key=str(uuid.uuid4()),
        request_hash=uuid.uuid4().hex,
        password_hash=cheap_argon2_hash(PASSWORD),
        delete_code_hash=cheap_argon2_hash(normalize_delete_code(DELETE_CODE)),
        items=items,
    )
    rows = ShareItem.objects.filter(share=created.share).order_by("position")
    token = created.token
    paths = [f"/s/{token}/m/{row.public_id}/full" for row in rows]
    return token, dict(zip(paths, files, strict=True))


def _open_session(base: str, token: str) -> dict[str, str]:
    """The patient's steps: the link page, then the password with the form's CSRF token."""
    with requests.Session() as http:
        page = http.get(f"{base}/s/{token}", timeout=10)
        assert page.status_code == 200, page.status_code
        csrf = _CSRF_FIELD.search(page.text)
        assert csrf is not None, "no CSRF token in the link page"
        answer = http.post(
            f"{base}/s/{token}",
            data={"password": PASSWORD, "csrfmiddlewaretoken": csrf.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.status_code
        assert answer.headers["Location"] == f"/s/{token}/gallery"
        return dict(http.cookies)


# --- one patient's thread -------------------------------------------------------------------


def _random_range(rng: random.Random, size: int) -> tuple[str | None, int, int]:
    """A Range header as players and resumed downloads send them (none, closed, open-ended,
    suffix), with the first and last byte it asks for."""
    start = rng.randrange(size)
    pick = rng.random()
    if pick < 0.1:
        return None, 0, size - 1
    if pick < 0.3:
        return f"bytes={start}-", start, size - 1
    if pick < 0.45:
        length = rng.randint(1, size)
        return f"bytes=-{length}", size - length, size - 1
    end = min(size - 1, start + rng.randint(0, 64 * 1024))
    return f"bytes={start}-{end}", start, end


def _fetch_own(http: requests.Session, url: str, data: bytes, rng: random.Random) -> None:
    header, first, last = _random_range(rng, len(data))
    response = http.get(url, headers={"Range": header} if header else {}, timeout=30)
    where = f"{url} Range={header}"
    assert response.status_code == (206 if header else 200), (where, response.status_code)
    assert response.headers["Content-Length"] == str(last - first + 1), where
    if header:
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}", where
    same_bytes = response.content == data[first : last + 1]  # not another session's file
    assert same_bytes, f"{where}: {len(response.content)} bytes that are not this file's"


def _reach_foreign(
    http: requests.Session, base: str, me: Patient, other: Patient, rng: random.Random
) -> None:
    """Another share's item: under its own token (not opened in this session) it is 403,
    its item id under our token is 404; never any of its bytes."""
    path, data = rng.choice(list(other.media.items()))
    item_id = path.split("/")[4]
    for url, expected in ((base + path, 403), (f"{base}/s/{me.token}/m/{item_id}/full", 404)):
        response = http.get(url, headers={"Range": "bytes=0-"}, timeout=30)
        assert response.status_code == expected, (url, response.status_code)
        assert data[:64] not in response.content, url


def _stream(base: str, me: Patient, others: list[Patient], seed: int, until: float) -> Counter[str]:
    """Fetch ranges of this patient's own files until `until`; count what was done."""
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    with requests.Session() as http:
        http.cookies.update(me.cookies)  # the same server-side session as the patient's
        while done["own"] < MIN_FETCHES or time.monotonic() < until:
            if done["foreign"] == 0 or rng.random() < FOREIGN_SHARE:
                _reach_foreign(http, base, me, rng.choice(others), rng)
                done["foreign"] += 1
            else:
                url_path, data = rng.choice(list(me.media.items()))
                _fetch_own(http, base + url_path, data, rng)
                done["own"] += 1
    return done


def test_many_patients_streaming_at_once_get_only_their_own_bytes(web) -> None:
    base, log_path = web
    clinic = make_clinic()
    shares = [_share_with_own_files(clinic, seed) for seed in range(SHARES)]
    every_file = [data for _, media in shares for data in media.values()]
    assert len(set(every_file)) == len(every_file)  # a leak would show as wrong bytes
    clips = [list(media.values())[-1] for _, media in shares]
    assert all(len(clip) > 200_000 for clip in clips)  # a few hundred KB each
    patients = [
        Patient(token=token, media=media, cookies=_open_session(base, token))
        for token, media in shares
    ]

    until = time.monotonic() + STREAM_SECONDS
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(
                _stream,
                base,
                patients[number % SHARES],
                [p for p in patients if p is not patients[number % SHARES]],
                number,
                until,
            )
            for number in range(THREADS)
        ]
        tallies = [future.result() for future in futures]  # re-raises a thread's failure

    assert all(t["own"] >= MIN_FETCHES and t["foreign"] >= 1 for t in tallies), tallies
    log = log_path.read_text(errors="replace")
    assert not _SERVER_ERROR_LINE.search(log), "a 5xx in the access log"
    assert "Traceback" not in log
