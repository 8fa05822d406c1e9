"""kube-transform's ``fsutil``, over kt-deno's storage: paths are joined onto ``DATA_DIR``.

kt-deno provides this module when kube-transform itself is not installed (when it is,
kube-transform's own module is used). Each operation behaves as kube-transform 0.2.1's
does, but the files are read and written by kt-deno (see the ``kt_deno`` module), so
neither fsspec nor boto3 is needed, and a path may not leave the data dir.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any, Iterator, List, Optional, Tuple

import kt_deno

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
    "remove",
    "rmdir",
    "stat",
    "walk",
    "write",
]


def _resolve_path(path: str) -> str:
    """The path as kt-deno takes it; raises ``ValueError`` when ``DATA_DIR`` is not set."""
    if not os.getenv("DATA_DIR", ""):
        raise ValueError("DATA_DIR environment variable not set.")
    return kt_deno._relative(path)


def listdir(path: str) -> List[str]:
    """Names of the entries of a directory; ``[]`` when it is missing or a file."""
    try:
        return kt_deno.listdir(_resolve_path(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def isfile(path: str) -> bool:
    """True when the path is a file."""
    return kt_deno.isfile(_resolve_path(path))


def isdir(path: str) -> bool:
    """True when the path is a directory."""
    return kt_deno.isdir(_resolve_path(path))


def exists(path: str) -> bool:
    """True when the path exists."""
    return kt_deno.exists(_resolve_path(path))


def mkdir(path: str, exist_ok: bool = True) -> None:
    """Creates a directory (nothing to do on S3, where folders are virtual).

    Raises ``FileExistsError`` when the path exists and ``exist_ok`` is false.
    """
    resolved = _resolve_path(path)
    if not kt_deno.exists(resolved):
        kt_deno.mkdir(resolved)
    elif not exist_ok:
        raise FileExistsError(f"Directory {path} already exists.")


def remove(path: str) -> None:
    """Deletes a file."""
    kt_deno.remove(_resolve_path(path))


def rmdir(path: str) -> None:
    """Removes a directory and its contents."""
    kt_deno.rmdir(_resolve_path(path))


def stat(path: str) -> Any:
    """The path's metadata: a dict with ``name`` (the full path, as fsspec gives it),
    ``size``, ``type`` (``"file"`` or ``"directory"``) and ``mtime``."""
    info = kt_deno.stat(_resolve_path(path))
    full = os.path.join(os.environ["DATA_DIR"], path)
    return {**info, "name": full[len("s3://") :] if full.startswith("s3://") else full}


def glob(pattern: str) -> List[str]:
    """Base names of the paths matching a wildcard pattern (as kube-transform returns)."""
    return [posixpath.basename(p) for p in kt_deno.glob(_resolve_path(pattern))]


def open(path: str, mode: str = "r", **kwargs: Any) -> Any:
    """Opens a file as ``fsspec.open`` does (``r``, ``rb``, ``w``, ``wb``, ``a``, ``ab``,
    ``x``, ``xb``), with its keywords ``compression`` (``"gzip"``, ``"bz2"``, ``"xz"``,
    ``"infer"``), ``encoding``, ``errors``, ``newline``, ``block_size`` and ``cache_type``.

    A file open to read seeks (read by ranges, on object stores too); a file written
    appears, atomically, when closed, and not at all after an exception inside its
    ``with`` block. See ``kt_deno.open``.
    """
    return kt_deno.open(_resolve_path(path), mode, **kwargs)


def makedirs(path: str, exist_ok: bool = False) -> None:
    """Creates a directory and its parents; ``FileExistsError`` when it exists and
    ``exist_ok`` is false."""
    kt_deno.makedirs(_resolve_path(path), exist_ok=exist_ok)


def copy(path1: str, path2: str, recursive: bool = False) -> None:
    """Copies a file (with ``recursive``, a directory and all it holds) to ``path2``."""
    kt_deno.copy(_resolve_path(path1), _resolve_path(path2), recursive=recursive)


def move(path1: str, path2: str) -> None:
    """Moves a file or a directory and all it holds to ``path2``."""
    kt_deno.move(_resolve_path(path1), _resolve_path(path2))


def walk(
    path: str, maxdepth: Optional[int] = None, topdown: bool = True
) -> Iterator[Tuple[str, List[str], List[str]]]:
    """``(dirpath, dirnames, filenames)`` for ``path`` and each directory below it, as
    ``os.walk`` gives them; ``dirpath`` is ``path`` joined with the names below it."""
    _resolve_path(path)
    yield from kt_deno.walk(path, maxdepth=maxdepth, topdown=topdown)


def read(path: str, encoding: str = "utf-8") -> str:
    """Reads the entire file as a string."""
    with open(path, "r", encoding=encoding) as f:
        return f.read()


def write(path: str, data: str, encoding: str = "utf-8") -> None:
    """Writes a string to a file."""
    with open(path, "w", encoding=encoding) as f:
        f.write(data)


def append(path: str, data: str, encoding: str = "utf-8") -> None:
    """Appends a string to a file."""
    with open(path, "a", encoding=encoding) as f:
        f.write(data)


def join(*paths: str) -> str:
    """Joins path components, as ``os.path.join`` does."""
    return os.path.join(*paths)
