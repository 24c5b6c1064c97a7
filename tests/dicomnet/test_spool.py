"""Spool files: received data sets are streamed into the archive's tmp folder, and what a
killed or cut-off transfer leaves there is removed."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import sys
import time

import pytest

from echoshare.archive.services import archive_tmp_dir
from echoshare.dicomnet.spool import SPOOL_PREFIX, spool_clean_stale, spool_file, spool_files

pytestmark = pytest.mark.dicom


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_spool_files_live_in_the_archive_tmp_folder_named_for_this_process():
    with spool_file(delete=False, mode="wb", suffix=".dcm") as spool:
        spool.write(b"x")
    try:
        assert os.path.dirname(spool.name) == str(archive_tmp_dir())
        assert os.path.basename(spool.name).startswith(f"{SPOOL_PREFIX}{os.getpid()}-")
    finally:
        os.unlink(spool.name)


def test_a_spool_file_knows_the_hash_and_size_of_what_was_written_to_it():
    with spool_file(delete=False, mode="wb", suffix=".dcm") as spool:
        for piece in (b"\0" * 128, b"DICM", b"rest of the file" * 1000):
            spool.write(piece)
    try:
        data = open(spool.name, "rb").read()
        assert spool.size == len(data) == 132 + 16 * 1000
        assert spool.sha256() == hashlib.sha256(data).hexdigest()
    finally:
        os.unlink(spool.name)


def test_stale_spool_files_of_dead_processes_are_removed_and_live_ones_kept():
    tmp = archive_tmp_dir()
    dead = tmp / f"{SPOOL_PREFIX}{_dead_pid()}-abc.dcm"
    mine = tmp / f"{SPOOL_PREFIX}{os.getpid()}-def.dcm"
    other = tmp / "not-ours.part"
    for path in (dead, mine, other):
        path.write_bytes(b"partial")
    assert spool_clean_stale() == 1
    assert not dead.exists()
    assert mine.exists() and other.exists()


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def _associate_rq(called: bytes, calling: bytes) -> bytes:
    def item(item_type: int, body: bytes) -> bytes:
        return struct.pack(">BBH", item_type, 0, len(body)) + body

    app_context = item(0x10, b"1.2.840.10008.3.1.1.1")
    presentation = item(
        0x20,
        bytes([1, 0, 0, 0])
        + item(0x30, b"1.2.840.10008.5.1.4.1.1.6.1")
        + item(0x40, b"1.2.840.10008.1.2.1"),
    )
    user = item(0x50, item(0x51, struct.pack(">I", 16384)))
    header = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + b"\0" * 32
    return _pdu(0x01, header + app_context + presentation + user)


def _command_set() -> bytes:
    """A C-STORE-RQ command (implicit VR LE) announcing a data set."""

    def element(group: int, elem: int, value: bytes) -> bytes:
        return struct.pack("<HHI", group, elem, len(value)) + value

    body = (
        element(0x0000, 0x0002, b"1.2.840.10008.5.1.4.1.1.6.1\0")
        + element(0x0000, 0x0100, struct.pack("<H", 0x0001))
        + element(0x0000, 0x0110, struct.pack("<H", 1))
        + element(0x0000, 0x0700, struct.pack("<H", 0))
        + element(0x0000, 0x0800, struct.pack("<H", 0x0000))
        + element(0x0000, 0x1000, b"1.2.3.4\0")
    )
    return element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def _p_data(context_id: int, control: int, data: bytes) -> bytes:
    pdv = struct.pack(">IBB", len(data) + 2, context_id, control) + data
    return _pdu(0x04, pdv)


def test_a_transfer_cut_off_half_way_leaves_no_spool_file(listener):
    with socket.create_connection((listener.host, listener.port), timeout=10) as sock:
        sock.sendall(_associate_rq(b"ECHOSHARE", b"CUTOFF"))
        assert sock.recv(1) == b"\x02"  # A-ASSOCIATE-AC
        sock.recv(65536)
        sock.sendall(_p_data(1, 0x03, _command_set()))
        sock.sendall(_p_data(1, 0x00, b"\x08\x00\x16\x00UI\x1c\x00" + b"1" * 28))
        deadline = time.monotonic() + 10
        while not spool_files() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert spool_files(), "the data set was not being spooled"
    # The peer vanished mid-transfer: the half-written spool file goes with the connection.
    deadline = time.monotonic() + 10
    while spool_files() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_files() == []
