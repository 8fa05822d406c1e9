"""kt-deno's Python worker: runs Python task functions for its kt-deno parent.

One worker serves one concurrency slot and runs one task at a time, as many tasks as it is
given: kt-deno sends them in batches, a frame each, and the worker goes from one task of a
batch to the next without waiting. It imports a task's module once (later tasks of the same
module find it imported) and calls the function in this process, as a TypeScript worker
does: module-level state lives on between the tasks of one worker, and what a task changes
in the process is put back after it (see ``Process``): ``sys.stdout``/``sys.stderr`` and
file descriptors 1 and 2, ``sys.argv``, ``os.environ``, the working directory, ``logging``
(the handlers, level, ``propagate`` and ``disabled`` of the loggers that existed before the
task, the root included, and ``logging.disable``; handlers a task added there are closed),
signal handlers, and a pending ``alarm``/``ITIMER_REAL`` (not the signal mask). Threads a
task leaves running go on running. Every process a task started, in a new session or not,
daemons that left their parent included (this worker is their subreaper), is killed when the
task ends. With ``KT_PYTHON_FORK=1`` it forks a child per task instead, which calls the
function and exits, so that every task starts from the module as imported, as in
kube-transform's pod per task (about 2 to 4 ms of CPU more per task).

A job's ``memory`` is not enforced here: kt-deno watches the resident memory of this
process and of everything below it, and kills them when they hold more (see
``src/task/memory_watch.ts``). No address-space limit is set: pyarrow, numpy and thread
stacks reserve address space that they never touch.

Channels (set up by kt-deno):
- fd 0 brings frames from kt-deno: a batch of tasks (each task's header in the frame's
  ``tasks``, with the ``size`` of its args, which follow one another in the body), or the
  answer to a file operation (a batch comes only when the last one is done);
- fd 1 takes frames to kt-deno: ready, a file operation, done;
- fd 2 takes the task's output (fd 1 is pointed there for the task's code, so ``print``,
  ``logging`` and the programs a task starts all write there); after each task this
  worker writes the line ``KT_WORKER_NONCE`` there, so kt-deno knows the output is over.
"""

from __future__ import annotations

import gc
import io
import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import traceback
from typing import Any, Dict, List, Optional, Tuple

# The oldest Python that runs task functions: kt-deno's MIN_PYTHON (python_check.ts), given
# as the first argument and taken off sys.argv, so that tasks see the argv they always did.
MIN_PYTHON = tuple(int(part) for part in sys.argv.pop(1).split("."))
if sys.version_info < MIN_PYTHON:
    sys.stderr.write(
        "kt-deno needs Python %s or newer for Python task functions, found %d.%d\n"
        % ((".".join(map(str, MIN_PYTHON)),) + tuple(sys.version_info[:2]))
    )
    sys.exit(3)

HERE = os.path.dirname(os.path.abspath(__file__))
# As `python -c` would have it (kube-transform's pods), the working directory comes first;
# kt-deno's own modules come last, so an installed kube-transform is found before them.
sys.path[:] = [os.getcwd()] + [p for p in sys.path[1:] if p != HERE] + [HERE]

import kt_deno  # noqa: E402

FORK = os.environ.get("KT_PYTHON_FORK") == "1"
CWD = os.getcwd()


# For the cache (kt-deno run --cache): while a task whose file operations are recorded
# runs, an audit hook notes what it does that kt-deno cannot see: a process started, or a
# file of a local data dir opened directly, or a file opened for writing outside the
# temporary folder. Such a task's result is never cached.
WATCH: Dict[str, Any] = {"on": False, "why": None, "data": None}
PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def audit(event: str, args: Tuple[Any, ...]) -> None:
    if not WATCH["on"] or WATCH["why"] is not None:
        return
    if event in PROCESS_EVENTS:
        WATCH["why"] = f"it started a process ({event})"
    elif event == "open" and args and isinstance(args[0], (str, bytes)):
        path = os.path.realpath(os.fsdecode(args[0]))
        mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
            isinstance(flags, int) and flags & WRITE_FLAGS
        )
        data = WATCH["data"]
        if data and (path == data or path.startswith(data + os.sep)):
            WATCH["why"] = f"it opened {path} itself, not through fsutil"
        elif (
            writes
            and not path.startswith(tempfile.gettempdir() + os.sep)
            and not path.startswith("/dev/")
            and "__pycache__" not in path
        ):
            WATCH["why"] = f"it opened {path} for writing, not through fsutil"


def watch(task: Dict[str, Any]) -> None:
    """Starts noting what the task does outside the fs API, when kt-deno asks."""
    WATCH["why"] = None
    WATCH["on"] = bool(task.get("watch"))
    data = task.get("env", {}).get("DATA_DIR", "")
    local = data and "://" not in data
    WATCH["data"] = os.path.realpath(data) if local else None


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
    """Prints the traceback of an exception without this worker's own frames (to the task's
    output, even when the task closed or replaced ``sys.stderr``)."""
    tb = error.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(error), error, tb))
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        os.write(OUTPUT_FD, text.encode("utf-8", "replace"))


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


def call(task: Dict[str, Any], fn: Any, args: Dict[str, Any]) -> Tuple[Dict[str, Any], bytes]:
    """Calls a task's function (in the child); the outcome and a dynamic job's jobs."""
    outcome, body = call_watched(task, fn, args)
    if outcome.get("ok") and WATCH["why"] is not None:
        outcome["unobserved"] = WATCH["why"]
    return outcome, body


def call_watched(
    task: Dict[str, Any], fn: Any, args: Dict[str, Any]
) -> Tuple[Dict[str, Any], bytes]:
    try:
        logging.basicConfig(level=logging.INFO)
        watch(task)
        try:
            value = fn(**args)
        finally:
            WATCH["on"] = False
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
    saved = Process()
    try:
        return call(task, fn, args)
    finally:
        flush()
        saved.restore()


try:
    # signal.getsignal without its conversion to enums: 60 calls in 5 microseconds, not 90.
    from _signal import getsignal
except ImportError:
    getsignal = signal.getsignal


class Process:
    """What a task may change in its worker's process, taken before the task and put back
    after it (the environment is ``run``'s). Five system calls and about 20 microseconds of
    Python a task."""

    CATCHABLE = [
        int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)
    ]

    def __init__(self) -> None:
        self.argv = sys.argv[:]
        self.stdout, self.stderr = sys.stdout, sys.stderr
        manager = logging.root.manager
        self.disable = manager.disable
        self.loggers = {
            name: (logger.level, logger.handlers[:], logger.propagate, logger.disabled)
            for name, logger in [("", logging.root), *manager.loggerDict.items()]
            if isinstance(logger, logging.Logger)
        }
        self.handlers = [(signum, getsignal(signum)) for signum in self.CATCHABLE]

    def restore(self) -> None:
        # Output: the descriptors (a task may have closed or redirected them), then the
        # streams (closed, replaced, or redirected without being put back).
        os.dup2(OUTPUT_FD, 2)
        os.dup2(OUTPUT_FD, 1)
        sys.stdout = reopened(self.stdout, 1)
        sys.stderr = reopened(self.stderr, 2)
        sys.argv[:] = self.argv
        manager = logging.root.manager
        manager.disable = self.disable
        # Loggers made during the task (a module imported for it) keep what they were given.
        for name, (level, handlers, propagate, disabled) in self.loggers.items():
            logger = logging.getLogger(name or None)
            if logger.handlers != handlers:
                for handler in logger.handlers:
                    if handler not in handlers:
                        try:
                            handler.close()
                        except Exception:
                            pass
                logger.handlers[:] = handlers
            if logger.level != level:
                logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled
        for signum, handler in self.handlers:
            if handler is not None and getsignal(signum) is not handler:
                signal.signal(signum, handler)
        if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            os.chdir(CWD)
        except OSError:
            pass


def reopened(stream: Any, fd: int) -> Any:
    """The worker's stream for fd 1 or 2, made again when a task closed it."""
    if not getattr(stream, "closed", True):
        return stream
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
        line_buffering=True,
    )


def become_subreaper() -> None:
    """Makes this worker the parent of every orphan below it (Linux), so that a task's
    daemons, double-forked or in new sessions, stay in reach of ``end_children``."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def children_of(pid: str, threads: Optional[List[str]] = None) -> List[bytes]:
    """The children of a process, started from any of its threads (Linux's /proc)."""
    found: List[bytes] = []
    if threads is None:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as file:
                found.extend(file.read().split())
        except OSError:
            pass
    return found


def end_children() -> None:
    """Kills every process below this worker and reaps them: what a task started ends with
    it. Orphans come back to this worker (its subreaper), so a few rounds end them all."""
    for _ in range(64):
        # This process's threads are known without a look at /proc (those that C libraries
        # start start no programs; a thread's children go to another when it ends).
        direct = children_of("self", [str(t.native_id) for t in threading.enumerate()])
        if not direct:
            return
        tree = list(direct)
        for pid in tree:
            tree.extend(children_of(pid.decode()))
        killed = set()
        for pid in tree:
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass  # gone, or not ours to kill (another user's): not waited for either
        for pid in direct:
            if pid in killed:
                try:
                    os.waitpid(int(pid), 0)
                except ChildProcessError:
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
        end_children()


OUTPUT_FD = 2


def main() -> int:
    global OUTPUT_FD
    nonce = os.environ.pop("KT_WORKER_NONCE", "").encode("ascii")
    read_fd = os.dup(0)
    write_fd = os.dup(1)
    # The task's output, kept apart so that fds 1 and 2 can be made again after a task.
    OUTPUT_FD = os.dup(2)
    become_subreaper()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    kt_deno._connect(read_fd, write_fd)
    sys.addaudithook(audit)
    kt_deno.write_frame(write_fd, {"t": "ready", "python": list(sys.version_info[:3])})
    while True:
        frame = kt_deno.read_frame(read_fd)
        if frame is None:
            return 0
        header, body = frame
        # A batch: the tasks one after the other, each with its args from the body in turn.
        at = 0
        for task in header["tasks"]:
            args = body[at : at + task["size"]]
            at += task["size"]
            outcome, result = run(task, args)
            flush()
            os.write(OUTPUT_FD, nonce + b"\n")
            kt_deno.write_frame(write_fd, {"t": "done", "id": task.get("id"), **outcome}, result)


if __name__ == "__main__":
    sys.exit(main())
