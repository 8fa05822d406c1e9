"""Start and watch kt-deno runs from Python: a notebook, a script, a test.

``run_pipeline`` has kube-transform's signature, so a notebook written for kube-transform
(``from kube_transform import run_pipeline``) keeps working without it. Each call runs the
``kt-deno`` that installed this package (``kt-deno python install``), as a subprocess: there
is no second engine in Python. ``KT_DENO`` names another one (a path, or a command line
such as ``deno run -A /src/kt-deno/main.ts``).

Example::

    from kube_transform import run_pipeline

    run = run_pipeline("pipeline.yaml", None, "./data", wait=True, functions="kt_functions")
    print(run.status())          # "Completed"
    print(run.logs("summarize"))
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Union

__all__ = ["Run", "RunFailed", "kt_deno_command", "run_pipeline"]

_COMMAND_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kt_deno_command.json")
_ENDED = ("Completed", "Failed", "Cancelled", "Interrupted")


class RunFailed(RuntimeError):
    """A run ended ``Failed``, ``Cancelled`` or ``Interrupted``; ``run`` is the :class:`Run`
    and ``errors`` maps each failed job to its error."""

    def __init__(self, run: "Run", status: str, errors: Dict[str, str]) -> None:
        lines = [f"run {run.run_id} {status}"]
        lines += [f"{job}: {error}" for job, error in errors.items()]
        super().__init__("\n  ".join(lines))
        self.run = run
        self.status = status
        self.errors = errors


def kt_deno_command() -> List[str]:
    """The command that runs kt-deno: ``KT_DENO``, else the one recorded when this package
    was installed, else ``kt-deno`` from ``PATH``."""
    override = os.environ.get("KT_DENO")
    if override:
        return shlex.split(override)
    try:
        with open(_COMMAND_FILE, encoding="utf-8") as file:
            return list(json.load(file)["command"])
    except FileNotFoundError:
        pass
    found = shutil.which("kt-deno")
    if found is None:
        raise FileNotFoundError(
            "kt-deno not found: install this package with `kt-deno python install`, "
            "put kt-deno on PATH, or set KT_DENO"
        )
    return [found]


def _kebab(name: str) -> str:
    return "--" + name.replace("_", "-")


def _flag_args(flags: Dict[str, Any]) -> List[str]:
    args: List[str] = []
    for name, value in flags.items():
        if value is None:
            continue
        if value is True:
            args.append(_kebab(name))
        elif value is False:
            args.append("--no-" + name.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [_kebab(name), str(item)]
        else:
            args += [_kebab(name), os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def _spec_source(spec: Any) -> tuple:
    """``(argument, stdin text)``: a path is passed as itself, the rest on standard input."""
    if isinstance(spec, dict):
        return "-", json.dumps(spec)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise TypeError(
            f"pipeline_spec must be a dict, a path or YAML/JSON text, got {type(spec).__name__}"
        )
    if "\n" in spec or spec.lstrip().startswith(("{", "[")):
        return "-", spec
    if not os.path.isfile(spec):
        raise FileNotFoundError(2, "No such pipeline spec file", spec)
    return spec, None


def _kt(args: List[str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        kt_deno_command() + args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _complaint(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return "\n".join(line.removeprefix("kt-deno: ") for line in lines) or "no message"


class Run:
    """A run started by :func:`run_pipeline` (or found by its id): ask for its status,
    wait for it, read its logs, cancel it."""

    def __init__(
        self,
        run_id: str,
        data_dir: str,
        namespace: Optional[str] = None,
        process: Optional[subprocess.Popen] = None,
        output_path: Optional[str] = None,
    ) -> None:
        self.run_id = run_id
        self.data_dir = data_dir
        self.namespace = namespace
        #: The file of what the ``kt-deno run`` started here printed (its progress); removed
        #: when :meth:`wait` sees the run completed.
        self.output_path = output_path
        self._process = process

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, data_dir={self.data_dir!r})"

    @property
    def report_path(self) -> str:
        """Where the run's HTML report is (written when the run ends)."""
        return f"{self.data_dir.rstrip('/')}/kt-metadata/{self.run_id}/report.html"

    def _data_args(self) -> List[str]:
        return [self.run_id, "--data-dir", self.data_dir]

    def state(self) -> Dict[str, Any]:
        """The run's state document (``pipeline_run_state.json``) as a dict."""
        done = _kt(["status", *self._data_args(), "--output", "json"])
        if done.returncode != 0:
            raise RuntimeError(f"kt-deno status {self.run_id}: {_complaint(done.stderr)}")
        return json.loads(done.stdout)

    def _state_if_written(self) -> Optional[Dict[str, Any]]:
        """The state document, or ``None`` while a run launched on a cluster has none yet."""
        try:
            return self.state()
        except RuntimeError as error:
            if self.namespace is not None and f": no run {self.run_id} " in str(error):
                return None
            raise

    def status(self) -> str:
        """``Running``, ``Completed``, ``Failed``, ``Cancelled`` or ``Interrupted``."""
        return self.state()["status"]

    def errors(self) -> Dict[str, str]:
        """Each failed job's error, by job name."""
        jobs = self.state()["jobs"].values()
        return {job["name"]: job.get("error", "failed") for job in jobs if job["status"] == "Failed"}

    def wait(self, timeout: Optional[float] = None) -> "Run":
        """Waits for the run to end; returns the run when it completed, raises
        :class:`RunFailed` (with each failed job's error) when it did not, and
        ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"run {self.run_id} still going after {timeout} s") from None
        while True:
            state = self._state_if_written()
            if state is not None and state["status"] in _ENDED:
                break
            if self._process is not None and self.namespace is None:
                raise RuntimeError(
                    f"kt-deno run {self.run_id} exited with code {self._process.returncode} "
                    f"before the run ended (continue it with kt-deno resume {self.run_id})"
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {self.run_id} still going after {timeout} s")
            time.sleep(1)
        if state["status"] == "Completed" and self.output_path is not None:
            if self._process is not None and self._process.poll() is not None:
                os.remove(self.output_path)  # kept only when something went wrong
                self.output_path = None
        if state["status"] != "Completed":
            errors = {
                job["name"]: job.get("error", "failed")
                for job in state["jobs"].values()
                if job["status"] == "Failed"
            }
            if state.get("error"):
                errors["(run)"] = state["error"]
            raise RunFailed(self, state["status"], errors)
        return self

    def logs(self, job: Optional[str] = None, index: Optional[int] = None) -> str:
        """The run's task logs (each line prefixed ``job[index]``); of one job, or one task."""
        if job is None and index is not None:
            raise ValueError("index needs job")
        target = [] if job is None else [job if index is None else f"{job}/{index}"]
        done = _kt(["logs", self.run_id, *target, "--data-dir", self.data_dir])
        if done.returncode != 0:
            raise RuntimeError(f"kt-deno logs {self.run_id}: {_complaint(done.stderr)}")
        return done.stdout

    def cancel(self) -> None:
        """Stops the run (its tasks here, or its Jobs and pods on Kubernetes)."""
        namespace = [] if self.namespace is None else ["--namespace", self.namespace]
        done = _kt(["cancel", *self._data_args(), *namespace])
        if done.returncode != 0:
            raise RuntimeError(f"kt-deno cancel {self.run_id}: {_complaint(done.stderr)}")
        if self._process is not None:
            self._process.wait()


def run_pipeline(
    pipeline_spec: Union[Dict[str, Any], str, "os.PathLike[str]"],
    image_path: Optional[str] = None,
    data_dir: str = "./kt-data",
    namespace: str = "default",
    wait: bool = False,
    **flags: Any,
) -> Run:
    """Starts a pipeline run, as ``kt-deno run`` does, and returns its :class:`Run`.

    ``pipeline_spec`` is a dict, a path to a YAML or JSON file, or YAML/JSON text. With no
    ``image_path`` the run goes on this machine, in the background, its tasks run by this
    Python (``sys.executable``) unless ``KT_PYTHON`` says otherwise; with one, it is
    launched on the Kubernetes cluster of the kubeconfig, in ``namespace``. ``wait=True``
    waits for the end (see :meth:`Run.wait`). Other keywords are ``kt-deno run``'s flags:
    ``functions="kt_functions"``, ``concurrency=4``, ``s3_endpoint=...``.

    Raises ``ValueError`` for an invalid spec or flag (kt-deno's message), and
    ``FileNotFoundError`` for a spec path that is not there.
    """
    spec_arg, stdin_text = _spec_source(pipeline_spec)
    args = ["run", spec_arg, "--data-dir", os.fspath(data_dir)]
    if image_path is not None:
        args += ["--image", image_path, "--namespace", namespace]
        if wait:
            args.append("--wait")  # kt-deno follows the run, riding out API server outages
    args += _flag_args(flags)
    env = dict(os.environ)
    env.setdefault("KT_PYTHON", sys.executable)
    fd, output_path = tempfile.mkstemp(prefix="kt-deno-run-", suffix=".log")
    with os.fdopen(fd, "w") as output:
        process = subprocess.Popen(
            kt_deno_command() + args,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    if stdin_text is not None:
        assert process.stdin is not None
        process.stdin.write(stdin_text)
        process.stdin.close()
    run_id = _await_run_id(process, output_path)
    data_dir = os.fspath(data_dir)
    run = Run(
        run_id,
        data_dir if "://" in data_dir else os.path.abspath(data_dir),
        namespace if image_path is not None else None,
        process,
        output_path,
    )
    return run.wait() if wait else run


def _await_run_id(process: subprocess.Popen, output_path: str) -> str:
    """The run id kt-deno prints first; its error when it ends before printing one."""
    pause = 0.005
    while True:
        ended = process.poll() is not None
        with open(output_path, encoding="utf-8", errors="replace") as file:
            text = file.read()
        for line in text.splitlines():
            if line.startswith("run id: "):
                return line[len("run id: ") :].strip()
        if ended:
            os.remove(output_path)
            message = _complaint(text)
            if process.returncode == 2:
                raise ValueError(message)
            raise RuntimeError(f"kt-deno run exited with code {process.returncode}: {message}")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
