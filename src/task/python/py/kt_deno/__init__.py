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

``open`` returns file objects that behave as fsspec's: they seek and tell (a file open to
read is read by ranges, on object stores too), take fsspec's ``compression=``,
``block_size=`` and ``cache_type=``, and a file written appears, atomically, when closed.
"""

from __future__ import annotations

import json as _json
import os
import posixpath
from typing import Any, Dict, Iterator, List, Optional, Tuple

from kt_deno import _files
from kt_deno._channel import call as _call
from kt_deno._channel import connect as _connect
from kt_deno._channel import read_frame, write_frame

__all__ = [
    "append",
    "copy",
    "exists",
    "glob",
    "isdir",
    "isfile",
    "join",
    "listdir",
    "makedirs",
    "mkdir",
    "move",
    "open",
    "read",
    "read_bytes",
    "read_json",
    "remove",
    "rmdir",
    "stat",
    "walk",
    "write",
    "write_bytes",
    "write_json",
]


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


def makedirs(path: str, exist_ok: bool = False) -> None:
    """Creates a directory and its parents, as ``os.makedirs`` (and fsspec's) do. Raises
    ``FileExistsError`` when something is at the path and ``exist_ok`` is false."""
    mkdir(path, exist_ok=exist_ok)


def copy(path1: str, path2: str, recursive: bool = False) -> None:
    """Copies the file ``path1`` to ``path2`` (replacing it, atomically), streamed, never
    whole in memory; with ``recursive``, a directory and all it holds. Raises
    ``FileNotFoundError``, or ``IsADirectoryError`` for a directory without ``recursive``."""
    _call("copy", path=_relative(path1), target=_relative(path2), recursive=recursive)


def move(path1: str, path2: str) -> None:
    """Moves a file or a directory and all it holds: a copy, then the original removed.
    Raises ``FileNotFoundError``."""
    _call("move", path=_relative(path1), target=_relative(path2), recursive=True)


def walk(
    path: str = "", maxdepth: Optional[int] = None, topdown: bool = True
) -> Iterator[Tuple[str, List[str], List[str]]]:
    """``(dirpath, dirnames, filenames)`` for the directory ``path`` and each directory below
    it, as ``os.walk`` (and fsspec's ``walk``) gives them: ``dirpath`` is ``path`` joined with
    the directories below it, the names are sorted, and with ``topdown`` removing names from
    ``dirnames`` skips those directories. ``maxdepth`` 1 is ``path`` alone. A missing path
    yields nothing."""
    if maxdepth is not None and maxdepth < 1:
        raise ValueError("maxdepth must be at least 1")
    base = _relative(path).strip("/")
    if not _call("isdir", path=base)[0]:
        return
    children: Dict[str, Tuple[List[str], List[str]]] = {}
    for entry, is_dir in _call("walk", path=base)[0]:
        parent, name = posixpath.split(entry)
        children.setdefault(parent, ([], []))[0 if is_dir else 1].append(name)

    def visit(relative: str, shown: str, depth: int) -> Iterator[Tuple[str, List[str], List[str]]]:
        dirs, files = children.get(relative, ([], []))
        dirs, files = sorted(dirs), sorted(files)
        if topdown:
            yield shown, dirs, files
        if maxdepth is None or depth < maxdepth:
            for name in list(dirs):
                below = posixpath.join(relative, name)
                yield from visit(below, posixpath.join(shown, name), depth + 1)
        if not topdown:
            yield shown, dirs, files

    yield from visit(base, path, 1)


def open(
    path: str,
    mode: str = "r",
    encoding: Optional[str] = None,
    errors: Optional[str] = None,
    newline: Optional[str] = None,
    compression: Optional[str] = None,
    block_size: Optional[int] = None,
    cache_type: Optional[str] = None,
    cache_options: Optional[Dict[str, Any]] = None,
) -> Any:
    """Opens a file of the data dir, as fsspec's ``open`` does: ``r``/``rb`` to read,
    ``w``/``wb`` to write, ``a``/``ab`` to append, ``x``/``xb`` to create
    (``FileExistsError`` when the file exists as it is opened); ``t`` or no ``b`` is text
    (``encoding``, default UTF-8, ``errors`` and ``newline`` as the built-in ``open`` takes
    them). ``r+``, ``w+`` and the like raise
    ``ValueError``: a file is open to read or to write.

    A file open to read is an ``io.BufferedReader`` that seeks (``seek``, ``tell``,
    ``seekable()``, ``readinto``, ``read(n)`` at any offset): it is read by ranges, a seek and
    a read locally, ranged requests on an object store, through a cache of blocks of
    ``block_size`` bytes (default 5 MiB, as fsspec's; ``cache_type="none"`` reads without
    it; fsspec's other cache types use the block cache and ``cache_options`` is ignored), so
    ``pd.read_parquet(fs.open(p, "rb"))``, ``zipfile`` and ``tarfile`` read only what they
    need of a large file. A file open to write is an ``io.BufferedWriter`` that tells but does
    not seek; it is sent to kt-deno ``block_size`` bytes at a time and appears, whole and
    atomically, when it is closed; an exception inside its ``with`` block discards it (what
    was at the path stays). What is appended is added when the file is closed.

    ``compression`` is ``"gzip"``, ``"bz2"``, ``"xz"`` (or ``"lzma"``), ``"infer"`` (from
    the extension: ``.gz``, ``.bz2``, ``.xz``, ``.lzma``; none for others) or ``None``.

    Raises ``FileNotFoundError`` for a missing file open to read, ``IsADirectoryError`` for
    a directory, ``ValueError`` for a path outside the data dir or a bad argument.

    Example::

        with kt_deno.open("out/table.csv.gz", "w", compression="infer") as f:
            f.write("a,b\n1,2\n")
        with kt_deno.open("input/data.parquet", "rb") as f:
            f.seek(-8, 2)
            footer = f.read(8)
    """
    del cache_options
    return _files.open_file(
        _relative(path),
        mode,
        block_size=block_size,
        cache_type=cache_type,
        compression=compression,
        encoding=encoding,
        errors=errors,
        newline=newline,
    )
