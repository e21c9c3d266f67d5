# Shared by the runtime scripts: progress lines, fatal errors, and long steps run into a log
# with a heartbeat. Source it after setting CACHE and LOG_TAG (the prefix of every line).
# shellcheck shell=bash
START=${START:-$SECONDS}
mkdir -p "$CACHE/logs"

say() { printf '\033[1;36m[%s %4ss]\033[0m %s\n' "${LOG_TAG:-runtime}" "$((SECONDS - START))" "$*" >&2; }
die() { printf '\033[1;31m[%s] FAILED:\033[0m %s\n' "${LOG_TAG:-runtime}" "$*" >&2; exit 1; }

# run_logged LOGNAME CMD...: runs a long step with its output in a log, printing a heartbeat
# so a 5-minute build on 2 cores does not look hung; on failure shows the log's tail.
run_logged() {
  local log=$CACHE/logs/$1.log; shift
  "$@" >"$log" 2>&1 &
  local pid=$! t=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5; t=$((t + 5))
    (( t % 30 == 0 )) && say "  ... still working ($t s, log $log)"
  done
  if ! wait "$pid"; then
    tail -n 40 "$log" >&2
    return 1
  fi
}


# current IMAGE KEY [LABEL]: the image exists and carries LABEL (default dev.snacktopus.key)
# = KEY, the hash of the inputs it was built from: nothing to rebuild.
current() {
  [[ $(docker image inspect -f "{{index .Config.Labels \"${3:-dev.snacktopus.key}\"}}" "$1" 2>/dev/null) == "$2" ]]
}
