#!/usr/bin/env bash
# Builds the air-gapped Debian base images, with no registry:
#
#   runtime/images/base-image.sh [python|trixie|bookworm ...]     (make base-images: python)
#
#   python    snacktopus/python-base:3.13-trixie  trixie minbase + python3, venv, CA bundle
#   trixie    snacktopus/debian:trixie            trixie minbase + CA bundle (kind node,
#                                                 kube-proxy, helper pods)
#   bookworm  snacktopus/debian:bookworm          bookworm minbase + CA bundle (Redis 7.0.15
#                                                 and Java 17 for Zipkin, as the local stack)
#
# debootstrap from the Debian mirror apt already uses, `docker import`, then a one-step
# `docker build` for the metadata `import` cannot set. The root filesystem tarball is cached
# in $SNACKTOPUS_CACHE/images keyed by suite and package list, and an image already tagged
# with that key is reused as it is.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOG_TAG=base-image
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# build SUITE PACKAGES IMAGE CMD
build() {
  local suite=$1 packages=$2 image=$3 cmd=$4 key tarball root imported
  key=$(printf '%s %s' "$suite" "$packages" | sha256sum | cut -c1-12)
  if current "$image" "$key" dev.snacktopus.base-key; then
    say "$image is current (key $key)"; return 0
  fi
  tarball=$CACHE/images/rootfs-$suite-$key.tar
  if [[ ! -s $tarball ]]; then
    if ! command -v debootstrap >/dev/null; then
      say "installing debootstrap (Debian)"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    root=$(mktemp -d)
    say "debootstrap $suite minbase + $packages from $MIRROR (~1 min)"
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$MIRROR" \
      >"$CACHE/logs/debootstrap-$suite.log" 2>&1 \
      || { tail -20 "$CACHE/logs/debootstrap-$suite.log" >&2; rm -rf "$root"; exit 1; }
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
    mkdir -p "$CACHE/images"
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  say "docker import $(du -h "$tarball" | cut -f1) -> $image"
  imported=$(docker import "$tarball")
  docker build -q -t "$image" --build-arg "ROOTFS=$imported" --build-arg "CMD=$cmd" \
    --label "dev.snacktopus.base-key=$key" -f "$HERE/base.Dockerfile" "$HERE" >/dev/null
  docker rmi -f "$imported" >/dev/null 2>&1 || true
  say "$image: built from $(basename "$tarball")"
}

for which in "${@:-python}"; do
  case $which in
    python) build trixie python3,python3-venv,ca-certificates "${BASE_IMAGE:-snacktopus/python-base:3.13-trixie}" python3 ;;
    trixie) build trixie ca-certificates snacktopus/debian:trixie bash ;;
    bookworm) build bookworm ca-certificates snacktopus/debian:bookworm bash ;;
    *) die "unknown base '$which' (python|trixie|bookworm)" ;;
  esac
done
