#!/usr/bin/env bash
# Builds, from the Go module proxy, every binary the kind cluster needs and caches them by
# version in $SNACKTOPUS_CACHE/kube/: kind and crictl for the host, and for the node image
# Kubernetes (kubeadm, kubelet, kubectl and the control-plane commands), etcd, CoreDNS and
# the pause container (gcc -static of Kubernetes' own pause.c), and rancher's local-path
# provisioner for the cluster's default StorageClass.
#
#   runtime/kube/binaries.sh [all|kind|k8s|etcd|coredns|crictl|pause|localpath]
#
# Every piece is built with CGO_ENABLED=0 (pause excepted) so it runs on any base image; a
# second run checks what is cached and builds nothing.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../versions.env
source "$HERE/../versions.env"
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
BIN=$CACHE/bin
LOG_TAG=kube-bin
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
export GOFLAGS=${GOFLAGS:--mod=mod} CGO_ENABLED=0
K8S=$CACHE/kube/k8s-$KUBERNETES_VERSION
mkdir -p "$BIN" "$K8S"

# go_install DIR PKG@VERSION [LDFLAGS]: `go install` into DIR unless its binary is there.
go_install() {
  local dir=$1 pkg=$2 ld=${3:-} name
  name=$(basename "${pkg%@*}")
  [[ -x $dir/$name ]] && return 0
  say "$name: building $pkg"
  mkdir -p "$dir"
  run_logged "$name-build" env GOBIN="$dir" go install -trimpath -ldflags "-s -w $ld" "$pkg" \
    || die "$name build failed (log: $CACHE/logs/$name-build.log)"
}

do_kind() {
  go_install "$CACHE/kube/kind-$KIND_VERSION" "sigs.k8s.io/kind@v$KIND_VERSION"
  ln -sfn "$CACHE/kube/kind-$KIND_VERSION/kind" "$BIN/kind"
  say "kind: $("$BIN/kind" version)"
}

do_crictl() {
  go_install "$CACHE/kube/crictl-$CRICTL_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION" \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION"
}

do_k8s() {
  local v=v$KUBERNETES_VERSION major minor ld="" cmd
  major=$(cut -d. -f1 <<<"$KUBERNETES_VERSION"); minor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")
  # Without these every binary reports v0.0.0-master, and kubeadm refuses to pair with it.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for cmd in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    [[ -x $K8S/$cmd ]] && continue
    say "$cmd $v: building from k8s.io/kubernetes (~25-90 s each on 2 cores)"
    (cd "$HERE/k8s" && run_logged "$cmd-build" go build -trimpath -ldflags "-s -w$ld" \
        -o "$K8S/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd") || die "$cmd build failed (log: $CACHE/logs/$cmd-build.log)"
    mv "$K8S/$cmd.tmp" "$K8S/$cmd"
  done
  ln -sfn "$K8S/kubectl" "$BIN/kubectl"
  "$K8S/kubeadm" version -o short | grep -qx "$v" || die "kubeadm does not report $v"
  say "kubernetes $v: $(ls "$K8S" | tr '\n' ' ')"
}

do_etcd() {
  local dir=$CACHE/kube/etcd-$ETCD_VERSION
  [[ -x $dir/etcd ]] && return 0
  say "etcd v$ETCD_VERSION: building go.etcd.io/etcd/server/v3"
  mkdir -p "$dir"
  (cd "$HERE/etcd" && run_logged etcd-build go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" \
      go.etcd.io/etcd/server/v3) || die "etcd build failed (log: $CACHE/logs/etcd-build.log)"
  mv "$dir/etcd.tmp" "$dir/etcd"
}

# The checksum database does not serve this module (404): GONOSUMDB lets the proxy's copy
# through, and the hash go records on first download pins it from then on.
do_localpath() {
  GONOSUMDB=github.com/rancher/local-path-provisioner go_install \
    "$CACHE/kube/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION" \
    "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION"
}

do_coredns() {
  go_install "$CACHE/kube/coredns-$COREDNS_VERSION" "github.com/coredns/coredns@v$COREDNS_VERSION"
}

do_pause() {
  local dir=$CACHE/kube/pause-$PAUSE_VERSION src
  [[ -x $dir/pause ]] && return 0
  src=$(go env GOMODCACHE)/k8s.io/kubernetes@v$KUBERNETES_VERSION/build/pause/linux/pause.c
  [[ -f $src ]] || (cd "$HERE/k8s" && go mod download k8s.io/kubernetes)
  mkdir -p "$dir"
  gcc -Os -static -DVERSION="v$PAUSE_VERSION" -o "$dir/pause" "$src" || die "gcc -static pause.c failed"
  say "pause: built from $src"
}

case ${1:-all} in
  all) do_kind; do_crictl; do_pause; do_etcd; do_coredns; do_localpath; do_k8s ;;
  kind) do_kind ;; crictl) do_crictl ;; k8s) do_k8s ;; etcd) do_etcd ;;
  coredns) do_coredns ;; pause) do_pause ;; localpath) do_localpath ;;
  *) die "unknown step '$1' (all|kind|k8s|etcd|coredns|crictl|pause|localpath)" ;;
esac
