#!/usr/bin/env bash
# The live kind cluster, start to end, with no container registry:
#
#   runtime/kube/cluster.sh up          make kind-up: node image, cluster, Dapr control plane
#   runtime/kube/cluster.sh install     make helm-install: images, kind load, our chart
#   runtime/kube/cluster.sh uninstall   make helm-uninstall
#   runtime/kube/cluster.sh down        make kind-down: delete the cluster this script made
#   runtime/kube/cluster.sh status      nodes, pods, releases
#
#   KIND_NODE_IMAGE   node image (default: kindest/node:v$KUBERNETES_VERSION when present or
#                     pullable, else snacktopus/kind-node:v$KUBERNETES_VERSION built here)
#   KIND_CLUSTER      cluster name (default snacktopus); context kind-$KIND_CLUSTER
#   SNACKTOPUS_NAMESPACE  namespace of our release (default snacktopus)
#   DAPR_HA           the Dapr control plane in HA mode (default true: three replicas of each
#                     service, placement and scheduler as quorums; on one node the chart's
#                     anti-affinity is only preferred, so they share it)
#
# Every step is idempotent: `up` on a running cluster checks it and moves on, `install`
# upgrades the release in place.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../versions.env
source "$HERE/../versions.env"
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
LOG_TAG=kind
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
export PATH=$CACHE/bin:$PATH
CLUSTER=${KIND_CLUSTER:-snacktopus}
CTX=kind-$CLUSTER
NS=${SNACKTOPUS_NAMESPACE:-snacktopus}
RELEASE=snacktopus
DAPR_NS=dapr-system
kc() { kubectl --context "$CTX" "$@"; }
hl() { helm --kube-context "$CTX" "$@"; }

need_engine() {
  docker info >/dev/null 2>&1 || die "no Docker engine answers: start one (on this machine: ../shared/env/docker-engine)"
}

tools() {
  "$HERE/binaries.sh" kind >/dev/null
  "$HERE/binaries.sh" k8s >/dev/null     # kubectl of the cluster's own version
  "$ROOT/runtime/install.sh" helm >/dev/null
}

node_image() {
  local public=kindest/node:v$KUBERNETES_VERSION
  if [[ -n ${KIND_NODE_IMAGE:-} ]]; then
    docker image inspect "$KIND_NODE_IMAGE" >/dev/null 2>&1 || timeout 120 docker pull -q "$KIND_NODE_IMAGE" >/dev/null \
      || die "KIND_NODE_IMAGE=$KIND_NODE_IMAGE is neither here nor pullable"
    echo "$KIND_NODE_IMAGE"; return
  fi
  if docker image inspect "$public" >/dev/null 2>&1 || timeout 30 docker pull -q "$public" >/dev/null 2>&1; then
    echo "$public"; return
  fi
  say "$public cannot be pulled: building the node image here (make kind-node-image)"
  "$HERE/node-image.sh" >&2
  echo "snacktopus/kind-node:v$KUBERNETES_VERSION"
}

exists() { kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; }

# load IMAGE...: into the node's containerd, skipping what it already holds at the same id.
load() {
  local missing=() img id
  for img in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$img")
    docker exec "$CLUSTER-control-plane" crictl inspecti -q "$id" >/dev/null 2>&1 || missing+=("$img")
  done
  ((${#missing[@]})) || { say "node already holds all ${#} images"; return 0; }
  say "kind load: ${missing[*]}"
  run_logged kind-load kind load docker-image --name "$CLUSTER" "${missing[@]}" || die "kind load failed"
}

dapr_chart() {
  local dir
  dir=$(cd "$ROOT/runtime/daprd" && GOFLAGS=-mod=mod go mod download -json "github.com/dapr/dapr@v$DAPR_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -f $dir/charts/dapr/Chart.yaml ]] || die "no charts/dapr in github.com/dapr/dapr@v$DAPR_VERSION"
  echo "$dir/charts/dapr"
}

do_up() {
  need_engine; tools
  local t0=$SECONDS image
  if exists; then
    say "cluster $CLUSTER exists: reusing it"
  else
    image=$(node_image)
    say "kind create cluster $CLUSTER on $image"
    run_logged kind-create kind create cluster --config "$ROOT/kind-config.yaml" --name "$CLUSTER" \
      --image "$image" --wait 3m || die "kind create cluster failed (log: $CACHE/logs/kind-create.log)"
  fi
  kc wait --for=condition=Ready node --all --timeout=180s >/dev/null
  say "Dapr $DAPR_VERSION control plane: images built here, chart from the Dapr module"
  "$HERE/images.sh" dapr
  mapfile -t dapr_images < <("$HERE/images.sh" list-dapr)
  load "${dapr_images[@]}"
  run_logged dapr-install helm --kube-context "$CTX" upgrade --install dapr "$(dapr_chart)" \
    --namespace "$DAPR_NS" --create-namespace --wait --timeout 8m \
    --set "global.registry=${DAPR_REGISTRY:-snacktopus.local/dapr}" --set "global.tag=$DAPR_VERSION" \
    --set global.imagePullPolicy=IfNotPresent --set "global.ha.enabled=${DAPR_HA:-true}" \
    --set global.mtls.enabled=true \
    --set dapr_scheduler.cluster.storageClassName=standard --set dapr_scheduler.cluster.storageSize=1Gi \
    || die "helm install dapr failed (log: $CACHE/logs/dapr-install.log)"
  kc -n "$DAPR_NS" rollout status deploy/dapr-sidecar-injector --timeout=180s >/dev/null
  say "cluster $CLUSTER ready in $((SECONDS - t0)) s (context $CTX)"
  kc get pods -A -o wide
}

do_install() {
  need_engine; tools
  exists || die "no cluster $CLUSTER: run make kind-up first"
  local t0=$SECONDS
  "$HERE/images.sh" stack
  mapfile -t stack < <("$HERE/images.sh" list-stack)
  load "${stack[@]}"
  run_logged helm-install helm --kube-context "$CTX" upgrade --install "$RELEASE" "$ROOT/charts/snacktopus" \
    --namespace "$NS" --create-namespace -f "$ROOT/charts/snacktopus/values-kind-airgap.yaml" \
    ${HELM_EXTRA_ARGS:-} --wait --timeout 10m || die "helm install failed (log: $CACHE/logs/helm-install.log)"
  say "release $RELEASE in namespace $NS ready in $((SECONDS - t0)) s"
  kc -n "$NS" get pods -o wide
}

do_uninstall() {
  exists || die "no cluster $CLUSTER"
  hl uninstall "$RELEASE" --namespace "$NS" --wait --timeout 5m
  say "release $RELEASE uninstalled; what is left in $NS:"
  kc -n "$NS" get all,pvc,secret,configmap 2>&1 | grep -v '^configmap/kube-root-ca.crt' || true
}

do_down() {
  if exists; then
    kind delete cluster --name "$CLUSTER"
  else
    say "no cluster $CLUSTER: nothing to delete"
  fi
}

do_status() {
  exists || { say "no cluster $CLUSTER"; return 0; }
  kubectl version --context "$CTX"
  kc get nodes -o wide
  kc get pods -A
  hl list -A
}

case ${1:-} in
  up) do_up ;; install) do_install ;; uninstall) do_uninstall ;; down) do_down ;; status) do_status ;;
  *) die "usage: cluster.sh up|install|uninstall|down|status" ;;
esac
