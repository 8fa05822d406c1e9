#!/usr/bin/env bash
# Installs Azurite, Microsoft's Azure Storage emulator the az:// tests run against, from npm
# at a pinned version into the cache outside the repository. Prints its blob server's script.
set -euo pipefail

AZURITE_VERSION=3.37.0
CACHE=${KT_DENO_CACHE:-$HOME/.cache/kt-deno}
DIR=$CACHE/azurite-$AZURITE_VERSION
MAIN=$DIR/node_modules/azurite/dist/src/blob/main.js
if [ -f "$MAIN" ]; then echo "$MAIN"; exit 0; fi
mkdir -p "$DIR"
npm install --prefix "$DIR" --no-audit --no-fund --omit=dev "azurite@$AZURITE_VERSION" >&2
echo "$MAIN"
