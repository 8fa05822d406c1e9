#!/usr/bin/env bash
# Builds kwok (simulated nodes for the scale tests) from its Go module at a pinned version
# and caches it outside the repository. Prints the binary's path.
set -euo pipefail

KWOK_VERSION=v0.8.0
CACHE=${KT_DENO_CACHE:-$HOME/.cache/kt-deno}
BIN=$CACHE/bin/kwok-$KWOK_VERSION
if [ -x "$BIN/kwok" ]; then echo "$BIN/kwok"; exit 0; fi
mkdir -p "$BIN"
GOBIN="$BIN" GOFLAGS=-trimpath go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
echo "$BIN/kwok"
