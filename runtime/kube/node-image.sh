#!/usr/bin/env bash
# Builds the kind node image for Kubernetes v$KUBERNETES_VERSION here, with no registry
# (make kind-node-image): the public kindest/node cannot be pulled on an offline machine,
# and `kind build node-image` pulls images from inside its build.
#
#   1. binaries from the Go module proxy (binaries.sh), control-plane images (images.sh);
#   2. runtime/kube/node/Dockerfile on snacktopus/debian:trixie: systemd, Debian's
#      containerd/runc/CNI plugins, kubeadm/kubelet/kubectl/crictl and our node files;
#   3. the control-plane images imported into the node's containerd (pinned, so the
#      kubelet's image GC keeps them), committed, and the image metadata restored.
#
# The result, snacktopus/kind-node:v$KUBERNETES_VERSION, carries a label keyed on every input
# (versions, node files, binaries, images): a second run with nothing changed takes seconds.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../versions.env
source "$HERE/../versions.env"
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
LOG_TAG=kind-node-image
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
IMAGE=${KIND_NODE_IMAGE_LOCAL:-snacktopus/kind-node:v$KUBERNETES_VERSION}
K8S=$CACHE/kube/k8s-$KUBERNETES_VERSION

"$HERE/images.sh" control-plane
mapfile -t preload < <("$HERE/images.sh" list-control-plane)

# What goes into the node itself, beside the preloaded images.
bins=("$K8S/kubeadm" "$K8S/kubelet" "$K8S/kubectl" "$CACHE/kube/crictl-$CRICTL_VERSION/crictl")

key=$( (cat "$HERE/../versions.env"; find "$HERE/node" -type f -print0 | sort -z | xargs -0 sha256sum;
        sha256sum "${bins[@]}";
        docker image inspect -f '{{.Id}}' "${preload[@]}") | sha256sum | cut -c1-16)
if current "$IMAGE" "$key"; then
  say "$IMAGE is current (key $key)"; exit 0
fi

ctx=$(mktemp -d) work=""
cleanup() { [[ -n $work ]] && docker rm -f "$work" >/dev/null 2>&1; rm -rf "$ctx"; }
trap cleanup EXIT
mkdir -p "$ctx/bin"
cp -r "$HERE/node/files" "$ctx/files"
cp "$HERE/node/Dockerfile" "$ctx/Dockerfile"
cp "${bins[@]}" "$ctx/bin/"
echo "v$KUBERNETES_VERSION" >"$ctx/version"
sed -i "s/@LOCAL_PATH_PROVISIONER_VERSION@/$LOCAL_PATH_PROVISIONER_VERSION/" "$ctx/files/default-storage.yaml"
say "node base: systemd, containerd, runc, CNI plugins from Debian trixie (~2 min cold)"
run_logged kind-node-base docker build -t "$IMAGE-base" "$ctx" || die "node base build failed"

say "preloading ${#preload[@]} images into the node's containerd"
docker save "${preload[@]}" -o "$ctx/preload.tar"
# containerd as the entrypoint, no /var volume: what it imports lands in the image layers.
work=$(docker run -d --privileged --entrypoint /usr/bin/containerd -v "$ctx/preload.tar:/preload.tar:ro" "$IMAGE-base")
for _ in $(seq 60); do docker exec "$work" ctr version >/dev/null 2>&1 && break; sleep 1; done
docker exec "$work" ctr -n k8s.io images import --all-platforms --no-unpack --digests /preload.tar >/dev/null \
  || die "ctr import failed"
for ref in "${preload[@]}"; do
  [[ $ref == */* && ${ref%%/*} == *.* ]] || ref=docker.io/$ref
  docker exec "$work" ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null \
    || die "image $ref missing in the node after import"
done
docker exec "$work" sh -c 'kill -TERM 1'
docker wait "$work" >/dev/null
preloaded=$(docker commit "$work")
docker build -q -t "$IMAGE" --build-arg "PRELOADED=$preloaded" --label "dev.snacktopus.key=$key" \
  -f "$HERE/node/preloaded.Dockerfile" "$HERE/node" >/dev/null
docker rmi "$preloaded" >/dev/null 2>&1 || true
say "$IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1/1e9}') (key $key)"
