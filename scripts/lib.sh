# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; it does nothing on its own.
#
# Layout of the project-local state (all under .run/, which git ignores):
#   .run/pids/NAME.pid   daemons scripts/deps.sh started (redis, mariadb, nats)
#   .run/procs/NAME.pid  processes scripts/run.sh started (origin, ...)
#   .run/go-bin          folder of the Go toolchain deps.sh fetched, when the system one is too old
# A pid file holds "PID START PATTERN": the process's start time (from /proc) and a text its
# command line contains, so that a pid reused by another process (say after a container restart,
# where pids repeat) is never signalled.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=$ROOT/.run
# shellcheck disable=SC2034 # used by the scripts that source this file
PID_DIR=$RUN_DIR/pids
# shellcheck disable=SC2034
PROC_DIR=$RUN_DIR/procs

say() { printf '%s\n' "$*"; }
die() {
  printf '%s\n' "$*" >&2
  exit 1
}

# proc_stat PID: sets STAT to the fields of /proc/PID/stat that follow the command name, so that
# STAT[0] is the state and STAT[19] the start time.
proc_stat() {
  local line
  # read, not $(<file): under set -e a $(<file) whose file vanished ends the whole script.
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  read -ra STAT <<<"${line##*) }"
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  proc_stat "$1" && [ "${STAT[0]}" != Z ] && [ "${STAT[0]}" != X ]
}

# write_pidfile FILE PID PATTERN
write_pidfile() {
  mkdir -p "$(dirname "$1")"
  proc_stat "$2" || STAT=()
  printf '%s %s %s\n' "$2" "${STAT[19]:-0}" "$3" >"$1"
}

# pidfile_pid FILE: prints the pid recorded in FILE while that same process is still running.
pidfile_pid() {
  local pid start pattern cmdline
  [ -r "$1" ] || return 1
  read -r pid start pattern <"$1" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" && [ "${STAT[19]}" = "$start" ] || return 1
  { cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
  [[ $cmdline == *"$pattern"* ]] || return 1
  printf '%s\n' "$pid"
}

# wait_dead PID SECONDS: waits until PID has exited; fails if it is still there after SECONDS.
wait_dead() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

# stop_pidfile FILE NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 30); removes FILE.
stop_pidfile() {
  local file=$1 name=$2 timeout=${3:-30} pid
  if ! pid=$(pidfile_pid "$file"); then
    rm -f "$file"
    return 0
  fi
  say "$name: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_dead "$pid" "$timeout"; then
    say "$name: still running after ${timeout}s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_dead "$pid" 5 || {
      printf '%s\n' "$name: pid $pid would not die" >&2
      return 1
    }
  fi
  rm -f "$file"
}

# version_lt A B: true when version A (e.g. 1.22.3) is older than B.
version_lt() {
  local -a a b
  local i x y
  IFS=. read -ra a <<<"$1"
  IFS=. read -ra b <<<"$2"
  for i in 0 1 2; do
    x=${a[i]:-0} y=${b[i]:-0}
    x=${x%%[!0-9]*} y=${y%%[!0-9]*}
    ((10#${x:-0} < 10#${y:-0})) && return 0
    ((10#${x:-0} > 10#${y:-0})) && return 1
  done
  return 1
}

# wanted_go_version: the toolchain go.mod asks for, e.g. 1.26.8.
wanted_go_version() {
  local v
  v=$(awk '$1 == "toolchain" { t = $2 } $1 == "go" { g = $2 } END { print (t != "" ? t : g) }' "$ROOT/go.mod")
  v=${v#go}
  # Since Go 1.21 "go 1.N" means the release 1.N.0.
  if [[ $v =~ ^1\.([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 21)); then v=$v.0; fi
  printf '%s\n' "$v"
}

# local_go_version: the version of the go on PATH itself, without any toolchain switch (e.g. 1.26.8).
local_go_version() {
  local v
  v=$(cd / && GOTOOLCHAIN=local go version 2>/dev/null | awk '{ print $3 }')
  printf '%s\n' "${v#go}"
}

# use_go: puts a Go that can build this module on PATH, or fails saying how to get one.
use_go() {
  local dir
  if [ -r "$RUN_DIR/go-bin" ]; then
    dir=$(<"$RUN_DIR/go-bin")
    [ -x "$dir/go" ] && PATH=$dir:$PATH
  fi
  export PATH
  command -v go >/dev/null || die "go: not found; run scripts/deps.sh (make deps) to install it"
  # An older go (1.21+) fetches the toolchain go.mod names, unless the environment decided otherwise.
  if [ -z "${GOTOOLCHAIN:-}" ] && version_lt "$(local_go_version)" "$(wanted_go_version)"; then
    export GOTOOLCHAIN=auto
  fi
}
