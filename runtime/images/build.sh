#!/usr/bin/env bash
# Builds the app images and the Locust image (make images), on the public base when it can be had and on the
# air-gapped trixie base (make base-images) when it cannot, and says which it used.
#
#   BASE=...            force a base image
#   EXTRA_CA=path       CA bundle for pip/uv inside the build (default: the host's bundle,
#                       which trusts a TLS-inspecting proxy when the host does)
#   TAG=0.1.0           image tag
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${TAG:-0.1.0}
PUBLIC=python:3.13-slim
AIRGAP=snacktopus/python-base:3.13-trixie
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
LOG_TAG=images
# shellcheck source=../lib.sh
source "$ROOT/runtime/lib.sh"

if [[ -z ${BASE:-} ]]; then
  if docker image inspect "$PUBLIC" >/dev/null 2>&1 || timeout 60 docker pull -q "$PUBLIC" >/dev/null 2>&1; then
    BASE=$PUBLIC
  else
    say "$PUBLIC cannot be pulled: using the air-gapped base $AIRGAP"
    "$ROOT/runtime/images/base-image.sh"
    BASE=$AIRGAP
  fi
fi
ca=${EXTRA_CA:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$ROOT/.build-ca"
if [[ -s $ca ]]; then cp "$ca" "$ROOT/.build-ca/ca.crt"; else rm -f "$ROOT/.build-ca/ca.crt"; fi
for app in agent:agent-shell workflow:workflow-host locust:locust; do
  file=Dockerfile.${app%%:*} image=snacktopus/${app#*:}:$TAG
  start=$SECONDS
  docker build -q -f "$ROOT/$file" --build-arg "BASE=$BASE" --build-arg "VERSION=$TAG" \
    -t "$image" "$ROOT" >/dev/null
  say "$image built on $BASE in $((SECONDS - start)) s: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
done
rm -f "$ROOT/.build-ca/ca.crt"
