"""kt-deno's stand-in for kube-transform, used when kube-transform is not installed.

It provides ``kube_transform.fsutil``, so that task functions written for kube-transform
(``from kube_transform import fsutil as fs``) run under kt-deno unchanged, and
``run_pipeline``, so that notebooks that start runs (``from kube_transform import
run_pipeline``) do too: see ``kt_deno.run``.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # run_pipeline is imported on first use: tasks, which import fsutil, never load it.
    if name == "run_pipeline":
        from kt_deno.run import run_pipeline

        return run_pipeline
    raise AttributeError(f"module 'kube_transform' has no attribute {name!r}")
