#!/usr/bin/env bash
# Builds the air-gapped Python 3.13 base image from Debian trixie, with no registry:
#
#   runtime/images/base-image.sh            (make base-images)
#
# debootstrap (minbase + python3, python3-venv, ca-certificates) from the Debian mirror apt
# already uses, `docker import`, then a one-step `docker build` for the metadata `import`
# cannot set. The root filesystem tarball is cached in $SNACKTOPUS_CACHE/images keyed by
# suite and package list, and an image already tagged with that key is reused as it is.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
SUITE=trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates
KEY=$(printf '%s %s' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
IMAGE=${BASE_IMAGE:-snacktopus/python-base:3.13-$SUITE}
say() { printf '\033[1;36m[base-image %4ss]\033[0m %s\n' "$SECONDS" "$*" >&2; }

if [[ $(docker image inspect -f '{{index .Config.Labels "dev.snacktopus.base-key"}}' "$IMAGE" 2>/dev/null) == "$KEY" ]]; then
  say "$IMAGE is current (key $KEY)"; exit 0
fi
tarball=$CACHE/images/rootfs-$SUITE-$KEY.tar
if [[ ! -s $tarball ]]; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap (Debian)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  say "debootstrap $SUITE minbase + $PACKAGES from $MIRROR (~1 min)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$CACHE/logs/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/logs/debootstrap.log" >&2; exit 1; }
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
  mkdir -p "$CACHE/images"
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi
say "docker import $(du -h "$tarball" | cut -f1) -> $IMAGE"
imported=$(docker import "$tarball")
docker build -q -t "$IMAGE" --build-arg "ROOTFS=$imported" --label "dev.snacktopus.base-key=$KEY" \
  -f "$HERE/base.Dockerfile" "$HERE" >/dev/null
say "$IMAGE: $(docker run --rm "$IMAGE" python3 --version)"
