#!/usr/bin/env bash
# The cold check: runs .ci/run as a new machine of the project's kind would, and times it.
#
#   scripts/fresh-machine.sh [--keep] [REPO]
#
# 1. removes the Debian packages the test harness installs (so they are installed again from
#    nothing), unless KT_FRESH_KEEP_PACKAGES=1;
# 2. points HOME at an empty folder that holds only this machine's ~/.npmrc, ~/.gitconfig and
#    ~/.config/go/env (registry settings a new machine has too), so npm's, Deno's and Go's
#    caches and ~/.cache/kt-deno (binaries, images) all start empty;
# 3. clones REPO (default: this checkout's repository, its committed HEAD) into that HOME and
#    runs .ci/run there; prints the wall time and the count line, and exits with .ci/run's code.
#
# The empty HOME (gigabytes of caches and images once the run is over) is removed at the end,
# unless --keep. Run as root: .ci/run needs it, and so does removing packages.
set -uo pipefail

keep=0
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi
repo=${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}
if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-machine.sh: run as root (it removes Debian packages and runs .ci/run)" >&2
  exit 2
fi

# what the harness installs (tests/cluster/host.ts) and a new machine lacks
packages=(podman containerd runc containernetworking-plugins conntrack debootstrap chromium tmux)
if [ "${KT_FRESH_KEEP_PACKAGES:-0}" != 1 ]; then
  installed=()
  for p in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      installed+=("$p")
    fi
  done
  if [ "${#installed[@]}" -gt 0 ]; then
    echo "removing: ${installed[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${installed[@]}" >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -qq >/dev/null
  fi
fi

home=$(mktemp -d /tmp/kt-fresh-home-XXXXXX)
cleanup() {
  [ "$keep" = 1 ] && { echo "kept: $home"; return; }
  # podman's overlay store may still be mounted under it
  grep -o " $home/[^ ]*" /proc/self/mountinfo | sort -r | while read -r point; do
    umount -l "$point" 2>/dev/null
  done
  rm -rf "$home"
}
trap cleanup EXIT
for f in .npmrc .gitconfig .config/go/env; do
  if [ -f "$HOME/$f" ]; then
    mkdir -p "$home/$(dirname "$f")"
    cp "$HOME/$f" "$home/$f"
  fi
done

git clone -q "$repo" "$home/kt-deno"
echo "cold run of $(git -C "$home/kt-deno" log -1 --format='%h %s') in $home"
start=$(date +%s)
(
  cd "$home/kt-deno" &&
    env -u KT_DENO_CACHE -u DENO_DIR -u GOMODCACHE -u GOCACHE -u GOPATH -u XDG_CACHE_HOME \
      -u KUBECONFIG HOME="$home" .ci/run
) 2>&1 | tee "$home/ci.log"
status=${PIPESTATUS[0]}
seconds=$(($(date +%s) - start))
echo "fresh machine: .ci/run exited $status after ${seconds} s ($((seconds / 60)) min $((seconds % 60)) s)"
tail -n 1 "$home/ci.log"
exit "$status"
