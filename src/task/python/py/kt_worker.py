"""kt-deno's Python worker: runs Python task functions for its kt-deno parent.

One worker serves one concurrency slot and runs one task at a time, as many tasks as it is
given. It imports a task's module once (later tasks of the same module find it imported)
and calls the function in this process, as a TypeScript worker does: what the runner sets
for a task (its environment variables, the working directory, the logging setup, the
memory cap) is set again for every task, while module-level state lives on between the
tasks of one worker. With ``KT_PYTHON_FORK=1`` it forks a child per task instead, which
calls the function and exits, so that every task starts from the module as imported, as
in kube-transform's pod per task (about 2 to 4 ms of CPU more per task).

Channels (set up by kt-deno):
- fd 0 brings frames from kt-deno: a task, or the answer to a file operation;
- fd 1 takes frames to kt-deno: ready, a file operation, done;
- fd 2 takes the task's output (fd 1 is pointed there for the task's code, so ``print``,
  ``logging`` and the programs a task starts all write there); after each task this
  worker writes the line ``KT_WORKER_NONCE`` there, so kt-deno knows the output is over.
"""

from __future__ import annotations

import gc
import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import signal
import sys
import traceback
from typing import Any, Dict, Optional, Tuple

try:
    import resource
except ImportError:  # not on this platform: tasks run without a memory cap
    resource = None  # type: ignore[assignment]

if sys.version_info < (3, 9):
    sys.stderr.write(
        "kt-deno needs Python 3.9 or newer for Python task functions, found %d.%d\n"
        % sys.version_info[:2]
    )
    sys.exit(3)

HERE = os.path.dirname(os.path.abspath(__file__))
# As `python -c` would have it (kube-transform's pods), the working directory comes first;
# kt-deno's own modules come last, so an installed kube-transform is found before them.
sys.path[:] = [os.getcwd()] + [p for p in sys.path[1:] if p != HERE] + [HERE]

import kt_deno  # noqa: E402

FORK = os.environ.get("KT_PYTHON_FORK") == "1"


class TaskError(Exception):
    """A failure kt-deno explains itself: its message is the job's error, no traceback."""


def describe(error: BaseException) -> str:
    """``ValueError: cannot parse row 17``, as the last line of a Python traceback reads."""
    cls = type(error)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = f"{cls.__module__}.{cls.__qualname__}"
    text = str(error)
    return f"{name}: {text}" if text else name


def print_traceback(error: BaseException, skip: int) -> None:
    """Prints the traceback of an exception without this worker's own frames."""
    tb = error.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    traceback.print_exception(type(error), error, tb, file=sys.stderr)


def register_functions(directory: str) -> None:
    """Makes the functions folder the package ``kt_functions``, whatever its name."""
    current = sys.modules.get("kt_functions")
    if current is not None and getattr(current, "__kt_functions_dir__", None) == directory:
        return
    for name in [n for n in sys.modules if n == "kt_functions" or n.startswith("kt_functions.")]:
        del sys.modules[name]
    init = os.path.join(directory, "__init__.py")
    if os.path.isfile(init):
        spec = importlib.util.spec_from_file_location(
            "kt_functions", init, submodule_search_locations=[directory]
        )
    else:
        spec = importlib.machinery.ModuleSpec("kt_functions", None, is_package=True)
        spec.submodule_search_locations = [directory]
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__kt_functions_dir__ = directory  # type: ignore[attr-defined]
    sys.modules["kt_functions"] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["kt_functions"]
        raise


def find_function(task: Dict[str, Any]) -> Any:
    """Imports the task's module (once per worker) and returns its function."""
    module_name, attr = task["module"], task["attr"]
    register_functions(task["functions_dir"])
    try:
        module = importlib.import_module("kt_functions." + module_name)
    except ModuleNotFoundError as error:
        full = "kt_functions." + module_name
        if error.name is not None and (full == error.name or full.startswith(error.name + ".")):
            raise TaskError(
                f"module {module_name} not found for function {task['function']}: "
                f"{describe(error)} in {task['functions_dir']}"
            ) from None
        raise
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise TaskError(
            f"module {module_name} ({getattr(module, '__file__', module_name)}) "
            f"has no function {attr}"
        )
    return fn


def limit_memory(limit: Optional[int]) -> None:
    """Lets the task map at most ``limit`` bytes more than its process has now (a soft
    limit, which the worker raises again after the task)."""
    if limit is None or resource is None:
        return
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = mapped + limit if hard == resource.RLIM_INFINITY else min(mapped + limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (OSError, ValueError):
        pass  # no /proc or no RLIMIT_AS (macOS): the task runs without a cap


def call(task: Dict[str, Any], fn: Any, args: Dict[str, Any]) -> Tuple[Dict[str, Any], bytes]:
    """Calls a task's function (in the child); the outcome and a dynamic job's jobs."""
    try:
        limit_memory(task.get("memory"))
        logging.basicConfig(level=logging.INFO)
        value = fn(**args)
        if task["kind"] != "dynamic":
            return {"ok": True}, b""
        # None goes on as null: the launcher logs that the function returned no jobs.
        if value is not None and not isinstance(value, (list, tuple)):
            raise TaskError(
                f"dynamic function {task['function']} returned {type(value).__name__}, "
                "expected a list of jobs"
            )
        try:
            return {"ok": True}, json.dumps(value, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise TaskError(
                f"dynamic function {task['function']} returned jobs that are not JSON: "
                f"{describe(error)}"
            ) from None
    except TaskError as error:
        return {"ok": False, "error": str(error)}, b""
    except SystemExit as error:
        if error.code is None or error.code == 0:
            return {"ok": True}, b""
        if not isinstance(error.code, int):
            print(error.code, file=sys.stderr)
        return {"ok": False, "error": describe(error)}, b""
    except MemoryError as error:
        print_traceback(error, 1)
        return {"ok": False, "oom": True, "error": describe(error)}, b""
    except BaseException as error:
        print_traceback(error, 1)
        return {"ok": False, "error": describe(error)}, b""


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def in_child(task: Dict[str, Any], fn: Any, args: Dict[str, Any]) -> Tuple[Dict[str, Any], bytes]:
    """Runs the call in a forked child; its outcome, or how the child ended."""
    flush()
    read_end, write_end = os.pipe()
    # The child's collector then leaves the worker's objects alone: fewer pages to copy.
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            outcome, body = call(task, fn, args)
            flush()
            data = json.dumps(outcome).encode("utf-8") + b"\n" + body
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view) :]
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if data:
        line, _, body = data.partition(b"\n")
        return json.loads(line), body
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return {"ok": False, "error": f"the task's process was killed by {name}"}, b""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code == 0:
        return {"ok": True}, b""
    return {"ok": False, "error": f"the task ended its process with exit code {code}"}, b""


def in_place(task: Dict[str, Any], fn: Any, args: Dict[str, Any]) -> Tuple[Dict[str, Any], bytes]:
    """Runs the call in this process, then puts back what the task may have changed."""
    cwd = os.getcwd()
    limits = resource.getrlimit(resource.RLIMIT_AS) if resource is not None else None
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return call(task, fn, args)
    finally:
        flush()
        if limits is not None:
            resource.setrlimit(resource.RLIMIT_AS, limits)
        root.handlers[:] = handlers
        root.setLevel(level)
        try:
            os.chdir(cwd)
        except OSError:
            pass


def restore_environ(saved: Dict[str, str]) -> None:
    """Puts ``os.environ`` back as saved, touching only what differs: each change is a
    ``putenv``, and clearing and refilling the whole environment was most of a no-op
    task's cost."""
    for name in [name for name in os.environ if name not in saved]:
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def run(task: Dict[str, Any], args_json: bytes) -> Tuple[Dict[str, Any], bytes]:
    """Runs one task with its environment set; the worker's own environment after."""
    saved = dict(os.environ)
    os.environ.update(task["env"])
    try:
        args = json.loads(args_json) if args_json else {}
        fn = find_function(task)
        return in_child(task, fn, args) if FORK else in_place(task, fn, args)
    except TaskError as error:
        return {"ok": False, "error": str(error)}, b""
    except BaseException as error:
        print_traceback(error, 0)
        return {"ok": False, "error": describe(error)}, b""
    finally:
        restore_environ(saved)


def main() -> int:
    nonce = os.environ.pop("KT_WORKER_NONCE", "").encode("ascii")
    read_fd = os.dup(0)
    write_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    kt_deno._connect(read_fd, write_fd)
    kt_deno.write_frame(write_fd, {"t": "ready", "python": list(sys.version_info[:3])})
    while True:
        frame = kt_deno.read_frame(read_fd)
        if frame is None:
            return 0
        task, body = frame
        outcome, result = run(task, body)
        flush()
        os.write(2, nonce + b"\n")
        kt_deno.write_frame(write_fd, {"t": "done", "id": task.get("id"), **outcome}, result)


if __name__ == "__main__":
    sys.exit(main())
