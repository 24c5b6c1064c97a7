"""A PDU is read in large pieces (echoshare/dicomnet/large_reads.py), with pynetdicom's
results: exactly the bytes asked for, or what came before the peer closed."""

from __future__ import annotations

import os
import socket
import threading
import time

from pynetdicom.transport import AssociationSocket

from echoshare.dicomnet import large_reads


class _CountingSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.calls = sock, 0

    def recv_into(self, buffer: memoryview, nbytes: int) -> int:
        self.calls += 1
        return self.sock.recv_into(buffer, nbytes)


def _send_in_pieces(sock: socket.socket, data: bytes, *, close: bool) -> threading.Thread:
    def send() -> None:
        for start in range(0, len(data), 50_000):
            sock.sendall(data[start : start + 50_000])
            time.sleep(0.001)  # arrives in pieces, as over a network
        if close:
            sock.close()

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_it_reads_exactly_the_bytes_asked_for_in_few_calls() -> None:
    data = os.urandom(131_072 + 500)
    ours, peer = socket.socketpair()
    with ours, peer:
        sender = _send_in_pieces(peer, data, close=False)
        counting = _CountingSocket(ours)
        pdu = large_reads.recv_into_buffer(counting, 131_072)
        rest = large_reads.recv_into_buffer(counting, 500)
        sender.join()
    assert isinstance(pdu, bytearray)
    assert bytes(pdu) + bytes(rest) == data
    assert counting.calls < 131_072 // 4096 // 4  # pynetdicom's 4 KiB reads: 32 and more


def test_a_peer_closing_early_gives_what_arrived() -> None:
    data = os.urandom(70_000)
    ours, peer = socket.socketpair()
    with ours:
        sender = _send_in_pieces(peer, data, close=True)
        got = large_reads.recv_into_buffer(ours, 100_000)
        sender.join()
    assert bytes(got) == data


def test_installing_replaces_pynetdicoms_socket_read() -> None:
    large_reads.install()
    ours, peer = socket.socketpair()
    with ours, peer:
        wrapper = AssociationSocket.__new__(AssociationSocket)
        wrapper.socket = ours
        peer.sendall(b"\x04\x00\x00\x00\x00\x02ab")
        assert wrapper.recv(6) == bytearray(b"\x04\x00\x00\x00\x00\x02")
        assert wrapper.recv(2) == bytearray(b"ab")
