#!/usr/bin/env bash
# Builds the test control plane from upstream Go modules and caches the binaries outside
# the repository: etcd (go.etcd.io/etcd/server/v3), kube-apiserver, kube-controller-manager
# and kube-scheduler (k8s.io/kubernetes, its staging modules pinned by replace lines).
# Prints the folder of the binaries. Only the first build on a machine pays.
set -euo pipefail

K8S_VERSION=v1.35.4
STAGING_VERSION=v0.35.4
CACHE=${KT_DENO_CACHE:-$HOME/.cache/kt-deno}
BIN=$CACHE/bin/k8s-$K8S_VERSION
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

have_all() {
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}
if have_all; then echo "$BIN"; exit 0; fi

SRC=$CACHE/build-src/k8s-$K8S_VERSION
mkdir -p "$SRC/etcd" "$BIN"
cd "$SRC"

# The staging modules k8s.io/kubernetes replaces with ./staging/... must be pinned to the
# published v0.x releases when it is used as a module.
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
KMOD=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
{
  echo "module ktcluster"
  echo
  echo "go 1.25.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  sed -nE 's#^\s*(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+$#\t\1 => \1 '"$STAGING_VERSION"'#p' "$KMOD"
  echo ")"
} > go.mod
cat > etcd/main.go <<'GO'
// etcd, built from go.etcd.io/etcd/server/v3 for kt-deno's test control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
cat > tools.go <<'GO'
//go:build tools

package ktcluster

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go mod tidy >&2

MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR \
  -X k8s.io/component-base/version.gitTreeState=clean"
go build -trimpath -ldflags "$LDFLAGS" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kubectl \
  ./etcd >&2
have_all
echo "$BIN"
