"""Log pseudonyms of client addresses: a random key per UTC day, shared through a file under
DATA_DIR by every process, and deleted once a later day's key is made."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from echoshare.core import client_address as module
from echoshare.core.client_address import KEY_BYTES, client_hash, day_key, key_folder

ROOT = Path(__file__).resolve().parents[1]
ADDRESS = "203.0.113.9"
DAY = date(2026, 3, 1)

# A child process that prints the pseudonym of ADDRESS. Arguments: a folder for the start
# signal (it says it is ready there and waits for `go`, so that several start at once) or
# "", its name, and a day or "" for today.
CHILD = """
import sys, time
from datetime import date
from pathlib import Path
from django.conf import settings
from echoshare.core.client_address import client_hash
signals, name, day = sys.argv[1:4]
settings.DATA_DIR  # load the settings before the start signal
if signals:
    (Path(signals) / f"ready-{name}").touch()
    while not (Path(signals) / "go").exists():
        time.sleep(0.001)
print(client_hash("203.0.113.9", day=date.fromisoformat(day) if day else None))
"""


def child_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "echoshare.settings",
        "ECHOSHARE_DATA_DIR": str(data_dir),
    }


def start_child(
    data_dir: Path, signals: str = "", name: str = "", day: str = ""
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, signals, name, day],
        cwd=ROOT,
        env=child_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pseudonym_in_child(data_dir: Path, day: date | None = None) -> str:
    out, err = start_child(data_dir, day=day.isoformat() if day else "").communicate(timeout=120)
    assert out.strip(), err
    return out.strip()


def files_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def at(day: date) -> time_machine.travel:
    return time_machine.travel(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False)


def test_the_same_address_gets_the_same_pseudonym_in_another_process(settings) -> None:
    mine = client_hash(ADDRESS)
    assert pseudonym_in_child(settings.DATA_DIR) == mine
    assert client_hash("203.0.113.10") != mine
    assert len(mine) == 16 and int(mine, 16) >= 0


def test_the_day_key_is_a_0600_file_in_a_0700_folder(settings) -> None:
    client_hash(ADDRESS)
    folder = key_folder()
    today = datetime.now(UTC).date().isoformat()
    assert files_in(folder) == {today}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    key_file = folder / today
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes() == day_key() and len(day_key()) == KEY_BYTES


def test_a_loose_key_folder_is_tightened(settings) -> None:
    folder = key_folder()
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    client_hash(ADDRESS)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_new_days_key_deletes_the_key_files_of_earlier_days(settings) -> None:
    folder = key_folder()
    with at(DAY):
        first = client_hash(ADDRESS)
    (folder / "2026-02-20").write_bytes(os.urandom(KEY_BYTES))  # missed by an old sweep
    (folder / ".2026-02-28.abc_-1.tmp").write_bytes(b"left by a crash")
    (folder / "notes.txt").write_text("not ours: left alone")
    assert files_in(folder) == {"2026-03-01", "2026-02-20", ".2026-02-28.abc_-1.tmp", "notes.txt"}
    with at(DAY + timedelta(days=1)):
        second = client_hash(ADDRESS)
        assert client_hash(ADDRESS) == second
    assert files_in(folder) == {"2026-03-02", "notes.txt"}
    assert second != first


def test_processes_racing_to_make_the_key_end_up_with_one(settings, tmp_path: Path) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    children = [start_child(settings.DATA_DIR, str(signals), str(n)) for n in range(6)]
    try:
        deadline = time.monotonic() + 120
        while len(list(signals.glob("ready-*"))) < len(children):
            assert time.monotonic() < deadline, "the children did not start"
            assert all(child.poll() is None for child in children)
            time.sleep(0.01)
        (signals / "go").touch()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert all(child.returncode == 0 for child in children), outputs
    pseudonyms = {out.strip() for out, _ in outputs}
    assert len(pseudonyms) == 1, outputs
    today = datetime.now(UTC).date().isoformat()
    assert files_in(key_folder()) == {today}  # no second key, no temporary file left
    assert client_hash(ADDRESS) == pseudonyms.pop()


def test_losing_the_race_takes_the_key_that_won(settings, monkeypatch) -> None:
    winner = os.urandom(KEY_BYTES)
    real_read = module._read_key
    calls: list[Path] = []

    def read_after_another_process_won(path: Path) -> bytes | None:
        calls.append(path)
        if len(calls) == 1:  # not there yet when looked at; made by another process just after
            path.write_bytes(winner)
            return None
        return real_read(path)

    monkeypatch.setattr(module, "_read_key", read_after_another_process_won)
    assert day_key() == winner
    assert len(calls) == 2
    assert files_in(key_folder()) == {datetime.now(UTC).date().isoformat()}


def test_an_unusable_key_folder_still_gives_pseudonyms_and_one_warning(settings, caplog) -> None:
    key_folder().write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="echoshare.core.client_address"):
        first = client_hash(ADDRESS)
        assert client_hash(ADDRESS) == first
        assert client_hash("203.0.113.10") != first
    warnings = [r for r in caplog.records if r.name == "echoshare.core.client_address"]
    assert len(warnings) == 1
    assert "uses a key of its own" in warnings[0].getMessage()
    assert ADDRESS not in caplog.text


def test_a_damaged_key_file_gives_a_key_of_the_process_own(settings, caplog) -> None:
    folder = key_folder()
    folder.mkdir(mode=0o700)
    today = datetime.now(UTC).date().isoformat()
    (folder / today).write_bytes(b"short")
    with caplog.at_level(logging.WARNING, logger="echoshare.core.client_address"):
        assert len(client_hash(ADDRESS)) == 16
    assert "holds 5 bytes" in caplog.text
    assert (folder / today).read_bytes() == b"short"  # never overwritten: another may use it


def test_another_day_without_a_key_file_gets_a_key_nobody_stored(settings) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    old = client_hash(ADDRESS, day=yesterday)
    assert client_hash(ADDRESS, day=yesterday) == old  # stable within this process
    assert old != client_hash(ADDRESS)
    assert files_in(key_folder()) == {(yesterday + timedelta(days=1)).isoformat()}
    # Not reproducible elsewhere: the key of a day that is over exists nowhere.
    assert pseudonym_in_child(settings.DATA_DIR, day=yesterday) != old


def test_yesterdays_key_file_serves_until_todays_key_is_made(settings) -> None:
    with at(DAY):
        old = client_hash(ADDRESS)
    with at(DAY + timedelta(days=1)):
        assert client_hash(ADDRESS, day=DAY) == old  # not yet swept: still the same pseudonym
        client_hash(ADDRESS)  # today's key is made; yesterday's goes
        assert client_hash(ADDRESS, day=DAY) != old


def test_a_process_whose_clock_is_behind_does_not_revive_a_finished_day(settings) -> None:
    folder = key_folder()
    folder.mkdir(mode=0o700)
    (folder / "2026-03-02").write_bytes(os.urandom(KEY_BYTES))
    with at(DAY):
        first = client_hash(ADDRESS)
        assert client_hash(ADDRESS) == first
    assert files_in(folder) == {"2026-03-02"}


@pytest.fixture(autouse=True)
def _forget_cached_keys() -> None:
    # Keys are cached per folder, and each test has its own DATA_DIR; this keeps the
    # ephemeral keys of other days from one test out of the next one too.
    module._ephemeral_keys.clear()
