#!/usr/bin/env bash
# Builds actionlint, the GitHub Actions workflow checker the release workflow test runs,
# from its Go module at a pinned version, and caches it outside the repository. Prints the
# binary's path.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
CACHE=${KT_DENO_CACHE:-$HOME/.cache/kt-deno}
BIN=$CACHE/bin/actionlint-$ACTIONLINT_VERSION
if [ -x "$BIN/actionlint" ]; then echo "$BIN/actionlint"; exit 0; fi
mkdir -p "$BIN"
GOBIN="$BIN" GOFLAGS=-trimpath go install -ldflags "-s -w" \
  "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2
echo "$BIN/actionlint"
