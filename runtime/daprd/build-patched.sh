#!/usr/bin/env bash
# A daprd of our flavour with runtime/daprd/patches/*.patch applied to the dapr module: what
# runtime/install.sh builds into the runtime cache (`make dev`), and what a patch under work
# is tried with (make park-repro DAPRD=OUT; docs/OPERATION_SNACKTOPUS_TESTPLAN.md, Appendix
# B). Builds in WORK (default /tmp/daprd-patched).
#
#   runtime/daprd/build-patched.sh OUT [WORK]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build-patched.sh OUT [WORK]}
WORK=${2:-/tmp/daprd-patched}
# shellcheck source=/dev/null
source <(grep -E '^(DAPR_VERSION|DAPRD_FLAVOUR)=' "$HERE/../versions.env")
SRC=$(go env GOMODCACHE)/github.com/dapr/dapr@v$DAPR_VERSION
[[ -d $SRC ]] || (cd "$HERE" && go mod download "github.com/dapr/dapr@v$DAPR_VERSION")
rm -rf "$WORK" && mkdir -p "$WORK"
cp -r "$SRC" "$WORK/dapr" && chmod -R u+w "$WORK/dapr"
for p in "$HERE"/patches/*.patch; do
  patch -d "$WORK/dapr" -p1 --forward <"$p"
done
cp "$HERE"/*.go "$HERE/go.mod" "$HERE/go.sum" "$WORK/"
(cd "$WORK" && go mod edit -replace "github.com/dapr/dapr=$WORK/dapr")
patches=$(cd "$HERE/patches" && ls -- *.patch | sed 's/\.patch$//' | paste -sd+)
(cd "$WORK" && CGO_ENABLED=0 go build -trimpath -tags stablecomponents,conversation_echo \
  -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION+$patches" \
  -o "$OUT" .)
"$OUT" --version
