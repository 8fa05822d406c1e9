"""File operations on the data dir of a kt-deno task.

Inside a Python task run by kt-deno, every path is relative to the task's data dir
(``DATA_DIR``: a local folder or ``s3://bucket/prefix``). Each operation is carried out by
kt-deno itself, through the same storage drivers as TypeScript tasks use, so S3
credentials, retries and the data-dir guard (a path may not leave the data dir) live in
one place, and this module needs nothing beyond the standard library.

Example::

    import kt_deno as fs

    def shout(input: str, output: str) -> None:
        text = fs.read(input)
        fs.write(output, text.upper())
        print(f"wrote {len(text)} characters to {output}")

Outside a kt-deno task (no parent to talk to) every operation raises ``RuntimeError``.

Differences from ``kube_transform.fsutil`` (also provided by kt-deno, for pipelines
written for kube-transform): ``glob`` returns paths relative to the data dir (fsutil
returns base names), ``listdir`` of a missing directory raises ``FileNotFoundError``
(fsutil returns ``[]``), and there are ``read_bytes``, ``write_bytes``, ``read_json`` and
``write_json``.
"""

from __future__ import annotations

import io
import json as _json
import os
import posixpath
import struct
import threading
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    "append",
    "exists",
    "glob",
    "isdir",
    "isfile",
    "join",
    "listdir",
    "mkdir",
    "open",
    "read",
    "read_bytes",
    "read_json",
    "remove",
    "rmdir",
    "stat",
    "write",
    "write_bytes",
    "write_json",
]

_HEADER = struct.Struct(">II")
_channel: Optional["_Channel"] = None

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
    header = _json.loads(_read_exactly(fd, header_size))
    return header, _read_exactly(fd, body_size) if body_size else b""


def write_frame(fd: int, header: Dict[str, Any], body: bytes = b"") -> None:
    """Writes one frame: sizes, the header as JSON, then the body."""
    encoded = _json.dumps(header).encode("utf-8")
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
        if not header.get("ok"):
            error = _ERRORS.get(header.get("type", ""), OSError)
            message = header.get("message", "failed")
            if error is FileNotFoundError:
                raise FileNotFoundError(2, "No such file or directory", args.get("path"))
            raise error(message)
        return header.get("value"), data


def _connect(read_fd: int, write_fd: int) -> None:
    """Binds this module to its kt-deno parent (called by the kt-deno worker)."""
    global _channel
    _channel = _Channel(read_fd, write_fd)


def _call(op: str, body: bytes = b"", **args: Any) -> Tuple[Any, bytes]:
    if _channel is None:
        raise RuntimeError(
            "kt_deno works inside a task run by kt-deno (kt-deno run, or a kt-deno worker pod)"
        )
    return _channel.call(op, body, **args)


def _relative(path: str) -> str:
    """A path relative to the data dir; an absolute path inside ``DATA_DIR`` is accepted."""
    path = os.fspath(path)
    data_dir = os.environ.get("DATA_DIR", "").rstrip("/")
    if data_dir and path.startswith(data_dir + "/"):
        return path[len(data_dir) + 1 :]
    if data_dir and path == data_dir:
        return ""
    return path


def listdir(path: str = "") -> List[str]:
    """Names of the entries of a directory, sorted. Raises ``FileNotFoundError``."""
    return _call("listdir", path=_relative(path))[0]


def isfile(path: str) -> bool:
    """True when a file is at the path."""
    return _call("isfile", path=_relative(path))[0]


def isdir(path: str) -> bool:
    """True when a directory is at the path (on S3: a prefix with objects below it)."""
    return _call("isdir", path=_relative(path))[0]


def exists(path: str) -> bool:
    """True when a file or directory is at the path."""
    return _call("exists", path=_relative(path))[0]


def stat(path: str) -> Dict[str, Any]:
    """``{"name", "size", "type", "mtime"}`` of a path; ``type`` is ``"file"`` or
    ``"directory"``, ``mtime`` seconds since the epoch (or ``None``). Raises
    ``FileNotFoundError``."""
    info = _call("stat", path=_relative(path))[0]
    if info is None:
        raise FileNotFoundError(2, "No such file or directory", path)
    return info


def mkdir(path: str, exist_ok: bool = True) -> None:
    """Creates a directory and its parents (nothing to do on S3, where folders are
    virtual). Raises ``FileExistsError`` when it exists and ``exist_ok`` is false."""
    _call("mkdir", path=_relative(path), exist_ok=exist_ok)


def remove(path: str) -> None:
    """Deletes a file. Raises ``FileNotFoundError``."""
    _call("remove", path=_relative(path))


def rmdir(path: str) -> None:
    """Deletes a directory and everything below it. Raises ``FileNotFoundError``."""
    _call("rmdir", path=_relative(path))


def glob(pattern: str) -> List[str]:
    """Paths relative to the data dir that match a pattern (``*``, ``?``, ``**``,
    ``[abc]``), sorted."""
    return _call("glob", pattern=_relative(pattern))[0]


def read_bytes(path: str) -> bytes:
    """A file's contents. Raises ``FileNotFoundError``."""
    return _call("read", path=_relative(path))[1]


def write_bytes(path: str, data: bytes) -> None:
    """Replaces a file with bytes, atomically, creating its parent directories."""
    _call("write", bytes(data), path=_relative(path))


def read(path: str, encoding: str = "utf-8") -> str:
    """A file's contents as text. Raises ``FileNotFoundError``."""
    return read_bytes(path).decode(encoding)


def write(path: str, data: str, encoding: str = "utf-8") -> None:
    """Replaces a file with text, atomically, creating its parent directories."""
    write_bytes(path, data.encode(encoding))


def append(path: str, data: str, encoding: str = "utf-8") -> None:
    """Appends text to a file, creating it when missing."""
    _call("append", data.encode(encoding), path=_relative(path))


def read_json(path: str) -> Any:
    """Parses a JSON file."""
    return _json.loads(read_bytes(path))


def write_json(path: str, value: Any) -> None:
    """Writes a value as a JSON file, atomically."""
    write(path, _json.dumps(value, indent=2) + "\n")


def join(*paths: str) -> str:
    """Joins path segments with ``/``, as ``os.path.join`` does."""
    return posixpath.join(*paths)


_CHUNK = 1 << 20


class _Remote(io.RawIOBase):
    """A file of the data dir that kt-deno holds open for this process under `_id`."""

    _id: int

    def close(self) -> None:
        if not self.closed:
            try:
                _call("close", id=self._id)
            finally:
                super().close()


class _Reader(_Remote):
    """A file of the data dir open to read: its bytes come from kt-deno a chunk at a time."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._id = _call("open_read", path=path)[0]
        self._rest = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._rest and not self._ended:
            self._rest = _call("read_chunk", id=self._id, size=max(len(buffer), _CHUNK))[1]
            self._ended = not self._rest
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


class _Writer(_Remote):
    """A file of the data dir open to write: kt-deno stores it as it comes, and puts it in
    place (atomically) when it is closed."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._id = _call("open_write", path=path)[0]

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            _call("write_chunk", chunk, id=self._id)
        return len(chunk)


class _Appender(io.BytesIO):
    """A file of the data dir open to append: what is written is added when it is closed."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def close(self) -> None:
        if not self.closed:
            data = self.getvalue()
            super().close()
            _call("append", data, path=self._path)


def open(
    path: str,
    mode: str = "r",
    encoding: Optional[str] = "utf-8",
    errors: Optional[str] = None,
    newline: Optional[str] = None,
) -> Any:
    """Opens a file of the data dir, as the built-in ``open`` does, for reading (``r``,
    ``rb``), writing (``w``, ``wb``) or appending (``a``, ``ab``). Reading and writing go a
    megabyte at a time, so files larger than memory work; a file written is put in place
    when it is closed (``with`` closes it), atomically. What is appended is added when the
    file is closed. Raises ``FileNotFoundError`` for a missing file opened to read,
    ``ValueError`` for another mode."""
    kind = mode.replace("t", "")
    binary = "b" in kind
    kind = kind.replace("b", "")
    if kind not in ("r", "w", "a") or mode.count("b") + mode.count("t") > 1:
        raise ValueError(f"invalid mode: {mode!r} (expected r, w or a, with b or t)")
    relative = _relative(path)
    stream: Any
    if kind == "r":
        stream = io.BufferedReader(_Reader(relative), _CHUNK)
    elif kind == "w":
        stream = io.BufferedWriter(_Writer(relative), _CHUNK)
    else:
        stream = _Appender(relative)
    if binary:
        return stream
    return io.TextIOWrapper(stream, encoding=encoding or "utf-8", errors=errors, newline=newline)
