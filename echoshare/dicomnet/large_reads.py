"""Reading a PDU from the socket in large pieces, in place of pynetdicom's 4 KiB reads.

pynetdicom's `AssociationSocket.recv(n)` calls `socket.recv(4096)` until it has n bytes and
appends each piece to a bytearray: a 1.4 MB image arrives in about 350 system calls, each
with its own bytes object and copy, all in Python while the sending machine waits.
`install()` replaces it with reads straight into one buffer of the PDU's size
(`recv_into`), as many bytes at a time as the kernel has: a handful of calls per PDU. What
the caller sees is unchanged: a bytearray of n bytes, or fewer when the peer closed the
connection; socket errors and timeouts propagate as before. Re-check when upgrading
pynetdicom (tests/dicomnet/test_large_reads.py).
"""

from __future__ import annotations

from pynetdicom.transport import AssociationSocket


def recv_into_buffer(sock: object, nr_bytes: int) -> bytearray:
    """`nr_bytes` from `sock`, or what arrived before the peer closed the connection."""
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    nr_read = 0
    while nr_read < nr_bytes:
        got = sock.recv_into(view[nr_read:], nr_bytes - nr_read)  # type: ignore[attr-defined]
        if not got:  # closed by the peer: what we have, as pynetdicom returns it
            del view
            return buffer[:nr_read]
        nr_read += got
    return buffer


def _recv(self: AssociationSocket, nr_bytes: int) -> bytearray:
    return recv_into_buffer(self.socket, nr_bytes)


def install() -> None:
    """Idempotent; called when the listener starts."""
    AssociationSocket.recv = _recv  # type: ignore[method-assign]
