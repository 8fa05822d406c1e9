"""The pipe between a Python worker and its kt-deno parent: frames, and requests over them.

A frame is two 32-bit big-endian sizes, a JSON header of the first size, then a body of
bytes of the second (``src/task/python/frames.ts`` is the other end).
"""

from __future__ import annotations

import json
import os
import struct
import threading
from typing import Any, Dict, Optional, Tuple

_HEADER = struct.Struct(">II")

_ERRORS = {
    "FileNotFoundError": FileNotFoundError,
    "FileExistsError": FileExistsError,
    "IsADirectoryError": IsADirectoryError,
    "NotADirectoryError": NotADirectoryError,
    "PermissionError": PermissionError,
    "RuntimeError": RuntimeError,
    "ValueError": ValueError,
}


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("kt-deno closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Optional[Tuple[Dict[str, Any], bytes]]:
    """Reads one frame (a JSON header and a body of bytes); ``None`` at end of input."""
    first = os.read(fd, _HEADER.size)
    if not first:
        return None
    if len(first) < _HEADER.size:
        first += _read_exactly(fd, _HEADER.size - len(first))
    header_size, body_size = _HEADER.unpack(first)
    header = json.loads(_read_exactly(fd, header_size))
    return header, _read_exactly(fd, body_size) if body_size else b""


def write_frame(fd: int, header: Dict[str, Any], body: bytes = b"") -> None:
    """Writes one frame: sizes, the header as JSON, then the body."""
    encoded = json.dumps(header).encode("utf-8")
    data = memoryview(_HEADER.pack(len(encoded), len(body)) + encoded + body)
    while data:
        data = data[os.write(fd, data) :]


class _Channel:
    """Requests to the kt-deno parent, one at a time (a lock keeps threads in turn)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.lock = threading.Lock()

    def call(self, op: str, body: bytes = b"", **args: Any) -> Tuple[Any, bytes]:
        with self.lock:
            write_frame(self.write_fd, {"t": "fs", "op": op, "args": args}, body)
            frame = read_frame(self.read_fd)
        if frame is None:
            raise RuntimeError("kt-deno closed the channel")
        header, data = frame
        self.check(header, args)
        return header.get("value"), data

    def call_into(self, op: str, view: memoryview, **args: Any) -> int:
        """A request whose answer's body is read straight into ``view`` (no larger than it);
        returns the body's size."""
        with self.lock:
            write_frame(self.write_fd, {"t": "fs", "op": op, "args": args})
            first = _read_exactly(self.read_fd, _HEADER.size)
            header_size, body_size = _HEADER.unpack(first)
            header = json.loads(_read_exactly(self.read_fd, header_size))
            if body_size > len(view):
                _read_exactly(self.read_fd, body_size)
                raise RuntimeError(f"kt-deno sent {body_size} bytes for {len(view)}")
            filled = 0
            while filled < body_size:
                read = os.readv(self.read_fd, [view[filled:body_size]])
                if not read:
                    raise EOFError("kt-deno closed the channel")
                filled += read
        self.check(header, args)
        return body_size

    @staticmethod
    def check(header: Dict[str, Any], args: Dict[str, Any]) -> None:
        """Raises the exception an answer names, if it names one."""
        if not header.get("ok"):
            error = _ERRORS.get(header.get("type", ""), OSError)
            message = header.get("message", "failed")
            if error is FileNotFoundError:
                raise FileNotFoundError(2, "No such file or directory", args.get("path"))
            raise error(message)


_channel: Optional[_Channel] = None


def connect(read_fd: int, write_fd: int) -> None:
    """Binds this process to its kt-deno parent (called by the kt-deno worker)."""
    global _channel
    _channel = _Channel(read_fd, write_fd)


def call(op: str, body: bytes = b"", **args: Any) -> Tuple[Any, bytes]:
    """Asks kt-deno to carry out one file operation; returns its value and body.

    Raises the Python exception kt-deno names (``FileNotFoundError``, ``ValueError``...),
    or ``RuntimeError`` outside a task run by kt-deno.
    """
    if _channel is None:
        raise RuntimeError(
            "kt_deno works inside a task run by kt-deno (kt-deno run, or a kt-deno worker pod)"
        )
    return _channel.call(op, body, **args)


def call_into(op: str, view: memoryview, **args: Any) -> int:
    """As ``call``, for an operation that answers with bytes, read straight into ``view``."""
    if _channel is None:
        call(op)
    assert _channel is not None
    return _channel.call_into(op, view, **args)
