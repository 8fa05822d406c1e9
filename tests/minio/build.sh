#!/usr/bin/env bash
# Builds the MinIO server the S3 tests run against, from its Go module at a pinned
# version, and caches it outside the repository. Prints the binary's path.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
CACHE=${KT_DENO_CACHE:-$HOME/.cache/kt-deno}
BIN=$CACHE/bin/minio-$MINIO_VERSION
if [ -x "$BIN/minio" ]; then echo "$BIN/minio"; exit 0; fi
mkdir -p "$BIN"
GOBIN="$BIN" GOFLAGS=-trimpath go install -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION" >&2
echo "$BIN/minio"
