"""Makes a wheel of a folder (the kt-deno Python package) and prints its path as JSON.

Run by the Python the package goes into, with the standard library only:
``python make_wheel.py FOLDER DIST VERSION OUT_DIR``. The folder ``kube_transform`` is left
out when the distribution ``kube-transform`` is installed there, so the real one stays.
"""

import base64
import hashlib
import json
import os
import sys
import zipfile

try:
    from importlib.metadata import PackageNotFoundError, distribution
except ImportError:  # Python < 3.8: kt-deno refuses these before running this
    sys.exit("Python 3.8 or newer is needed")

folder, dist, version, out_dir = sys.argv[1:5]
try:
    distribution("kube-transform")
    real_kube_transform = True
except PackageNotFoundError:
    real_kube_transform = False

name = dist.replace("-", "_")
info = f"{name}-{version}.dist-info"
files = {
    f"{info}/METADATA": (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        "Summary: kt-deno's Python package: kt_deno, run_pipeline and kube_transform\n"
    ).encode(),
    f"{info}/WHEEL": (
        "Wheel-Version: 1.0\nGenerator: kt-deno\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode(),
}
for root, _, names in os.walk(folder):
    for file_name in sorted(names):
        path = os.path.join(root, file_name)
        archived = os.path.relpath(path, folder).replace(os.sep, "/")
        if real_kube_transform and archived.startswith("kube_transform/"):
            continue
        with open(path, "rb") as file:
            files[archived] = file.read()


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


record = [record_line(path, data) for path, data in files.items()] + [f"{info}/RECORD,,"]
wheel = os.path.join(out_dir, f"{name}-{version}-py3-none-any.whl")
with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
    for path, data in sorted(files.items()):
        archive.writestr(path, data)
    archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
print(json.dumps({"wheel": wheel, "kube_transform": not real_kube_transform}))
