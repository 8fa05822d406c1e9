"""kt-deno's stand-in for kube-transform, used when kube-transform is not installed.

It provides ``kube_transform.fsutil`` only, so that task functions written for
kube-transform (``from kube_transform import fsutil as fs``) run under kt-deno unchanged.
"""
