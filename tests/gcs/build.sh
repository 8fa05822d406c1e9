#!/usr/bin/env bash
# Builds fake-gcs-server, the GCS emulator the gs:// tests run against, from its Go module
# at a pinned version, and caches it outside the repository. Prints the binary's path.
set -euo pipefail

FAKE_GCS_VERSION=v1.56.1
CACHE=${KT_DENO_CACHE:-$HOME/.cache/kt-deno}
BIN=$CACHE/bin/fake-gcs-server-$FAKE_GCS_VERSION
if [ -x "$BIN/fake-gcs-server" ]; then echo "$BIN/fake-gcs-server"; exit 0; fi
mkdir -p "$BIN"
GOBIN="$BIN" GOFLAGS=-trimpath go install -ldflags "-s -w" \
  "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
echo "$BIN/fake-gcs-server"
