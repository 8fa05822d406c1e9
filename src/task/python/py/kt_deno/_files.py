"""File objects of the data dir, as ``kt_deno.open`` and ``kube_transform.fsutil.open``
return them: they behave as fsspec's do.

A file open to read is read by ranges (a seek and a read locally, a ranged request on an
object store), through a cache of a few blocks of ``block_size`` bytes, so it seeks, and a
reader that only wants a file's end (a parquet footer, a zip's central directory) fetches
little more than that end. A file open to write is streamed to kt-deno as it is written and
appears, whole and atomically, when it is closed; an exception inside its ``with`` block
discards it. Compressed files (``compression=``) are a layer of the standard library's
``gzip``, ``bz2`` or ``lzma`` over these.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import posixpath
from collections import OrderedDict
from typing import Any, Optional, Union

from kt_deno._channel import call, call_into

DEFAULT_BLOCK_SIZE = 5 * 2**20
"""Bytes per block of a file open to read (and per chunk sent of one open to write), as
fsspec's."""

MAX_REQUEST = 16 * 2**20
"""The most bytes asked of kt-deno at once: a larger read is several requests."""

CACHED_BLOCKS = 2
"""Blocks a file open to read keeps: a block is the ``block_size`` bytes from where a read
missed the cache (as fsspec's ``readahead``), and two serve a read that straddles blocks or a
reader going back and forth between two places."""

CACHE_TYPES = frozenset(
    ["readahead", "blockcache", "bytes", "first", "all", "mmap", "parts", "background", "none"]
)
"""fsspec's ``cache_type`` values: ``"none"`` reads without a cache, the others use the block
cache."""

COMPRESSIONS = ("gzip", "bz2", "xz", "lzma")
"""The names ``compression=`` takes, besides ``"infer"`` and ``None``."""

_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "lzma"}

_Buffer = Union[bytes, bytearray, memoryview]


def infer_compression(path: str) -> Optional[str]:
    """The compression a path's extension names (``.gz``, ``.bz2``, ``.xz``, ``.lzma``), or
    ``None``, as fsspec's ``compression="infer"``."""
    return _EXTENSIONS.get(posixpath.splitext(path)[1].lower())


class RangeReader(io.RawIOBase):
    """A file of the data dir open to read, by ranges. ``size`` is its size when opened;
    ``fetched`` counts the bytes kt-deno sent for it. A read of ``block_size`` bytes or more
    goes straight to kt-deno; a smaller one is served from the block cache."""

    def __init__(self, path: str, block_size: int, cached: bool) -> None:
        super().__init__()
        self.name = path
        self.size: int = call("open_read", path=path)[0]
        self.fetched = 0
        self._pos = 0
        self._block_size = block_size
        self._blocks: Optional["OrderedDict[int, bytes]"] = OrderedDict() if cached else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if position < 0:
            raise OSError(errno.EINVAL, "Invalid argument: a position before the file's start")
        self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        size = max(0, min(len(view), self.size - self._pos))
        if size == 0:
            return 0
        if self._blocks is None or size >= self._block_size:
            got = self._fetch_into(view[:size], self._pos)
        else:
            got = self._cached_into(view[:size], self._pos)
        self._pos += got
        return got

    def readall(self) -> bytes:
        data = bytearray(max(0, self.size - self._pos))
        return bytes(data[: self.readinto(data)])

    def _fetch(self, offset: int, length: int) -> bytes:
        data = call("read_range", path=self.name, offset=offset, length=length)[1]
        self.fetched += len(data)
        return data

    def _fetch_into(self, view: memoryview, offset: int) -> int:
        filled = 0
        while filled < len(view):
            length = min(len(view) - filled, MAX_REQUEST)
            part = view[filled : filled + length]
            at = offset + filled
            got = call_into("read_range", part, path=self.name, offset=at, length=length)
            self.fetched += got
            if not got:
                break
            filled += got
        return filled

    def _block(self, offset: int) -> "tuple[int, bytes]":
        """A cached block holding the byte at ``offset``: on a miss, the ``block_size`` bytes
        from there (fewer at the file's end), the least recently used block dropped."""
        assert self._blocks is not None
        for start, block in self._blocks.items():
            if start <= offset < start + len(block):
                self._blocks.move_to_end(start)
                return start, block
        block = self._fetch(offset, self._block_size)
        self._blocks[offset] = block
        while len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return offset, block

    def _cached_into(self, view: memoryview, offset: int) -> int:
        filled = 0
        while filled < len(view):
            start, block = self._block(offset + filled)
            at = offset + filled - start
            part = block[at : at + len(view) - filled]
            if not part:
                break
            view[filled : filled + len(part)] = part
            filled += len(part)
        return filled

    def close(self) -> None:
        self._blocks = None
        super().close()


class StreamWriter(io.RawIOBase):
    """A file of the data dir open to write: its bytes go to kt-deno as they are written, and
    it appears, atomically, when closed; once ``discarded``, closing leaves no file."""

    def __init__(self, path: str, exclusive: bool) -> None:
        super().__init__()
        self.name = path
        self.discarded = False
        self._id = call("open_write", path=path, exclusive=exclusive)[0]
        self._pos = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR and offset == 0:
            return self.tell()
        raise io.UnsupportedOperation("seek: a file open to write is written in order")

    def write(self, data: _Buffer) -> int:
        self._checkClosed()
        view = memoryview(data).cast("B")
        for start in range(0, 0 if self.discarded else len(view), MAX_REQUEST):
            call("write_chunk", bytes(view[start : start + MAX_REQUEST]), id=self._id)
        self._pos += len(view)
        return len(view)

    def close(self) -> None:
        if not self.closed:
            try:
                call("abort" if self.discarded else "close", id=self._id)
            finally:
                super().close()


class Appender(io.RawIOBase):
    """A file of the data dir open to append: what is written is added when it is closed
    (nothing once ``discarded``)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.name = path
        self.discarded = False
        info = call("stat", path=path)[0]
        self._start = info["size"] if info and info["type"] == "file" else 0
        self._data = bytearray()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._start + len(self._data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR and offset == 0:
            return self.tell()
        raise io.UnsupportedOperation("seek: a file open to append is written at its end")

    def write(self, data: _Buffer) -> int:
        self._checkClosed()
        size = len(memoryview(data).cast("B"))
        self._data += data
        return size

    def close(self) -> None:
        if not self.closed:
            try:
                if not self.discarded:
                    call("append", bytes(self._data), path=self.name)
            finally:
                self._data = bytearray()
                super().close()


class _Layer:
    """A file object over another (buffering over a raw file, text or decompression over
    bytes): closing it closes what is below, and an exception inside its ``with`` block
    discards a file being written."""

    _kt_inner: Any
    _kt_raw: Any

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is not None and isinstance(self._kt_raw, (StreamWriter, Appender)):
            self._kt_raw.discarded = True
        self.close()

    def close(self) -> None:
        try:
            super().close()  # type: ignore[misc]
        finally:
            self._kt_inner.close()


class BufferedReader(_Layer, io.BufferedReader):
    """A file of the data dir open to read in binary: seekable, by ranges."""


class BufferedWriter(_Layer, io.BufferedWriter):
    """A file of the data dir open to write in binary."""


class TextFile(_Layer, io.TextIOWrapper):
    """A file of the data dir open in text mode."""

    def tell(self) -> int:
        if not self.seekable() and self.writable():
            self.flush()
            return self.buffer.tell()
        return super().tell()


class GzipFile(_Layer, gzip.GzipFile):
    """A gzip file of the data dir."""


class BZ2File(_Layer, bz2.BZ2File):
    """A bzip2 file of the data dir."""


class LZMAFile(_Layer, lzma.LZMAFile):
    """An xz (lzma) file of the data dir."""


_LAYERS = {"gzip": GzipFile, "bz2": BZ2File, "xz": LZMAFile, "lzma": LZMAFile}


def _layer(file: Any, inner: Any, raw: Any) -> Any:
    file._kt_inner = inner
    file._kt_raw = raw
    return file


def parse_mode(mode: str) -> "tuple[str, bool]":
    """``(kind, binary)`` of a mode: kind ``r``, ``w``, ``a`` or ``x``. Raises ``ValueError``."""
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    if "+" in mode:
        raise ValueError(
            f"mode {mode!r} is not supported: a file of the data dir is open to read or to "
            "write, not both (open it once for each)"
        )
    kinds = [c for c in mode if c in "rwax"]
    rest = set(mode) - set("rwaxbt")
    if len(kinds) != 1 or rest or len(mode) != len(set(mode)) or ("b" in mode and "t" in mode):
        raise ValueError(f"invalid mode: {mode!r} (expected r, w, a or x, with b or t)")
    return kinds[0], "b" in mode


def open_file(
    path: str,
    mode: str = "r",
    block_size: Optional[int] = None,
    cache_type: Optional[str] = None,
    compression: Optional[str] = None,
    encoding: Optional[str] = None,
    errors: Optional[str] = None,
    newline: Optional[str] = None,
) -> Any:
    """Opens ``path`` (relative to the data dir): see ``kt_deno.open``."""
    kind, binary = parse_mode(mode)
    if block_size is None:
        block_size = DEFAULT_BLOCK_SIZE
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size <= 0:
        raise ValueError(f"block_size must be a number of bytes above 0, got {block_size!r}")
    if cache_type is not None and cache_type not in CACHE_TYPES:
        raise ValueError(
            f"cache_type must be one of {', '.join(sorted(CACHE_TYPES))}, got {cache_type!r}"
        )
    if compression == "infer":
        compression = infer_compression(path)
    if compression is not None and compression not in COMPRESSIONS:
        raise ValueError(
            f"Compression type {compression} not supported "
            f"(expected {', '.join(COMPRESSIONS)}, 'infer' or None)"
        )
    raw: Any
    file: Any
    if kind == "r":
        raw = RangeReader(path, block_size, cache_type != "none")
        file = _layer(BufferedReader(raw, io.DEFAULT_BUFFER_SIZE), raw, raw)
    else:
        if kind == "a":
            raw = Appender(path)
        else:
            raw = StreamWriter(path, exclusive=kind == "x")
        file = _layer(BufferedWriter(raw, min(block_size, MAX_REQUEST)), raw, raw)
    if compression is not None:
        layer = _LAYERS[compression]
        inner_mode = "rb" if kind == "r" else "wb"
        if layer is GzipFile:
            outer = GzipFile(fileobj=file, mode=inner_mode)
        else:
            outer = layer(file, mode=inner_mode)
        file = _layer(outer, file, raw)
    if binary:
        return file
    text = TextFile(file, encoding=encoding or "utf-8", errors=errors, newline=newline)
    return _layer(text, file, raw)
