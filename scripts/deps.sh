#!/usr/bin/env bash
# Brings up what the system needs: Go (and a C compiler for -race), Redis, MariaDB and NATS with
# JetStream, and installs Varnish with varnish-modules for the local edge. A service that already answers on its address (REDIS_ADDR, MYSQL_DSN, NATS_URL, or
# the defaults) is used as it is. Otherwise it is started from its binary, with its data under
# .run/, after installing the Debian package if the binary is missing. Running it again is harmless.
#
# Daemons it starts are recorded in .run/pids/ (scripts/stop.sh stops them). When DEPS_STARTED
# names a file, the name of each service this call started is appended to it, so that the caller
# (scripts/run.sh) can stop exactly those. DEPS_WAIT_SECONDS bounds each wait (default 60).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAIT_SECONDS=${DEPS_WAIT_SECONDS:-60}
APT_UPDATED=

# ---- installing -------------------------------------------------------------------------------

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "apt: installing needs root or sudo: $*"
  fi
}

apt_update_once() {
  [ -n "$APT_UPDATED" ] && return
  say "apt: updating the package lists"
  as_root apt-get update -qq || die "apt: apt-get update failed"
  APT_UPDATED=1
}

# apt_install PACKAGE...: installs without letting the packages start their own services; the
# scripts start project-local ones instead, and in containers there is no init system to ask.
apt_install() {
  local made_policy='' status=0
  apt_update_once
  say "apt: installing $*"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    made_policy=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" || status=$?
  if [ -n "$made_policy" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  [ "$status" = 0 ] || die "apt: could not install $*"
}

# find_bin NAME FALLBACK_PATH PACKAGE: sets BIN to the binary, installing PACKAGE if it is missing.
find_bin() {
  BIN=$(command -v "$1" 2>/dev/null) || BIN=$2
  [ -x "$BIN" ] && return
  apt_install "$3"
  BIN=$(command -v "$1" 2>/dev/null) || BIN=$2
  [ -x "$BIN" ] || die "$1: not found even after installing $3"
}

# ---- addresses and probes ---------------------------------------------------------------------

# parse_addr ADDR DEFAULT_PORT: prints "HOST PORT" from host:port, scheme://user@host:port/path,
# or the first entry of a comma-separated list.
parse_addr() {
  local addr=${1%%,*} host port
  addr=${addr#*://}
  addr=${addr##*@}
  addr=${addr%%/*}
  if [[ $addr =~ ^\[(.*)\](:([0-9]+))?$ ]]; then
    host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]}
  elif [[ $addr == *:* ]]; then
    host=${addr%:*} port=${addr##*:}
  else
    host=$addr port=
  fi
  printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$2}"
}

is_local() {
  case $1 in 127.* | localhost | ::1 | 0.0.0.0) return 0 ;; *) return 1 ;; esac
}

# The probes use bash's /dev/tcp so they need no client tools, under timeout so that an address
# that drops packets cannot hang the script.
tcp_open() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

redis_ping() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "PING\r\n" >&3 && IFS= read -r l <&3 && [[ $l == +PONG* ]]' \
    "$1" "$2" 2>/dev/null
}

# nats_info HOST PORT: prints the INFO line a NATS server sends to every new connection.
nats_info() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r l <&3 && [[ $l == INFO* ]] && printf "%s\n" "$l"' \
    "$1" "$2" 2>/dev/null
}

# mysql_login HOST PORT USER PASSWORD: runs SELECT 1 over TCP; the client's error goes to stdout.
mysql_login() {
  local -a password=()
  [ -n "$4" ] && password=(MYSQL_PWD="$4")
  {
    env "${password[@]}" timeout 10 "$MYSQL_CLIENT" --no-defaults --protocol=TCP --connect-timeout=3 \
      -h "$1" -P "$2" -u "$3" -e 'SELECT 1' >/dev/null
  } 2>&1
}

# ---- starting ---------------------------------------------------------------------------------

# note_running NAME: " (started from .run, pid N)" when a daemon of ours is the one answering.
note_running() {
  local pid
  pid=$(pidfile_pid "$PID_DIR/$1.pid") && printf ' (started from .run, pid %s)' "$pid"
  return 0
}

# refuse_start NAME VAR HOST PORT: fails unless this script may start NAME on HOST:PORT itself.
refuse_start() {
  if tcp_open "$3" "$4"; then
    die "$1: something listens on $3:$4 but does not answer like $1; free the port or change $2"
  fi
  is_local "$3" || die "$1: nothing answers on $3:$4, which is not this machine; start it there or change $2"
}

# wait_ready NAME LOG PID PROBE [ARGS...]: waits until PROBE ARGS succeeds. On failure it stops
# PID (if known), shows the end of LOG and fails naming the service.
wait_ready() {
  local name=$1 log=$2 pid=$3 i
  shift 3
  for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
    "$@" >/dev/null && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then break; fi
    sleep 0.2
  done
  if [ -n "$pid" ] && alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  [ -r "$log" ] && tail -n 15 "$log" >&2
  die "$name: did not come up within ${WAIT_SECONDS}s (log: ${log#"$ROOT"/})"
}

# started NAME PID PATTERN: records a daemon this call started. It is called before waiting for
# the daemon, so that one interrupted while it comes up is still known to its stoppers.
started() {
  write_pidfile "$PID_DIR/$1.pid" "$2" "$3"
  if [ -n "${DEPS_STARTED:-}" ]; then printf '%s\n' "$1" >>"$DEPS_STARTED"; fi
}

ensure_redis() {
  local host port dir=$RUN_DIR/redis pid
  read -r host port < <(parse_addr "${REDIS_ADDR:-127.0.0.1:6379}" 6379)
  if redis_ping "$host" "$port"; then
    say "redis: already listening on $host:$port$(note_running redis)"
    return
  fi
  refuse_start redis REDIS_ADDR "$host" "$port"
  find_bin redis-server /usr/bin/redis-server redis-server
  say "redis: starting on 127.0.0.1:$port (data in .run/redis)"
  mkdir -p "$dir"
  # Started like the other daemons (setsid, no --daemonize) so its pid is known at once and a
  # failed start is noticed without waiting out the timeout.
  setsid "$BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$dir" </dev/null >>"$dir/redis.log" 2>&1 &
  pid=$!
  started redis "$pid" redis-server
  wait_ready redis "$dir/redis.log" "$pid" redis_ping "$host" "$port"
  say "redis: ready (pid $pid)"
}

ensure_mariadb() {
  local dsn=${MYSQL_DSN:-root@tcp(127.0.0.1:3306)/livecommerce?parseTime=true}
  local userinfo host port user pass err dir=$RUN_DIR/mariadb sock pid
  local -a as_user=()
  # go-sql-driver DSN: [user[:password]@]tcp(host:port)/dbname[?params]
  if ! [[ $dsn =~ ^((.*)@)?tcp\(([^\)]*)\)/ ]]; then
    say "mariadb: MYSQL_DSN does not name a tcp(host:port) address; not checked"
    return
  fi
  userinfo=${BASH_REMATCH[2]}
  read -r host port < <(parse_addr "${BASH_REMATCH[3]}" 3306)
  user=${userinfo%%:*}
  user=${user:-root}
  pass=
  [[ $userinfo == *:* ]] && pass=${userinfo#*:}
  MYSQL_CLIENT=$(command -v mariadb || command -v mysql || true)

  if tcp_open "$host" "$port"; then
    if [ -z "$MYSQL_CLIENT" ]; then
      say "mariadb: already listening on $host:$port (no mariadb client here to check the login)"
      return
    fi
    err=$(mysql_login "$host" "$port" "$user" "$pass") ||
      die "mariadb: $host:$port is up but $user cannot log in over TCP: $err
hint: the tests and the origin need MYSQL_DSN's user to log in over TCP; for root without a password:
  ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('');
  CREATE USER IF NOT EXISTS root@'127.0.0.1'; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;"
    say "mariadb: already listening on $host:$port$(note_running mariadb)"
    return
  fi
  refuse_start mariadb MYSQL_DSN "$host" "$port"
  find_bin mariadbd /usr/sbin/mariadbd mariadb-server
  local server=$BIN
  find_bin mariadb-install-db /usr/bin/mariadb-install-db mariadb-server
  local installer=$BIN
  MYSQL_CLIENT=$(command -v mariadb || command -v mysql) || die "mariadb: no mariadb client after installing mariadb-server"
  # mariadbd refuses to run as root unless told to.
  [ "$(id -u)" = 0 ] && as_user=(--user=root)

  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    say "mariadb: creating a data folder in .run/mariadb/data"
    rm -rf "$dir/data.new"
    # "normal" makes root@localhost, root@127.0.0.1 and root@::1 with no password (Debian's
    # packaged server uses unix_socket instead, which a TCP client cannot use). Installing into
    # data.new and renaming it means an interrupted install is redone rather than half used.
    if ! "$installer" --no-defaults --datadir="$dir/data.new" --auth-root-authentication-method=normal \
      --skip-test-db "${as_user[@]}" >"$dir/install.log" 2>&1; then
      tail -n 15 "$dir/install.log" >&2
      die "mariadb: mariadb-install-db failed (log: .run/mariadb/install.log)"
    fi
    mv "$dir/data.new" "$dir/data"
  fi
  # A unix socket path must fit in 108 bytes; a deep checkout falls back to the temp folder.
  sock=$dir/mariadbd.sock
  ((${#sock} < 100)) || sock=${TMPDIR:-/tmp}/livecommerce-mariadbd.$port.sock

  say "mariadb: starting on 127.0.0.1:$port (data in .run/mariadb/data)"
  # --no-defaults keeps /etc/mysql out of it; the character set matches Debian's packaged config.
  setsid "$server" --no-defaults --datadir="$dir/data" --socket="$sock" --port="$port" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/mariadbd.pid" \
    --log-error="$dir/error.log" --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    "${as_user[@]}" </dev/null >>"$dir/mariadbd.out" 2>&1 &
  pid=$!
  started mariadb "$pid" mariadbd
  wait_ready mariadb "$dir/error.log" "$pid" mysql_login "$host" "$port" root ""
  if [ "$user" != root ] || [ -n "$pass" ]; then
    err=$(mysql_login "$host" "$port" "$user" "$pass") ||
      die "mariadb: started with a password-less root, but MYSQL_DSN's user $user cannot log in: $err"
  fi
  say "mariadb: ready (pid $pid)"
}

ensure_nats() {
  local host port info dir=$RUN_DIR/nats pid
  read -r host port < <(parse_addr "${NATS_URL:-nats://127.0.0.1:4222}" 4222)
  if info=$(nats_info "$host" "$port"); then
    [[ $info == *'"jetstream":true'* ]] ||
      die "nats: $host:$port answers but JetStream is off; restart it with -js (the services need streams)"
    say "nats: already listening on $host:$port with JetStream$(note_running nats)"
    return
  fi
  refuse_start nats NATS_URL "$host" "$port"
  find_bin nats-server /usr/sbin/nats-server nats-server
  say "nats: starting on 127.0.0.1:$port with JetStream (data in .run/nats)"
  mkdir -p "$dir"
  setsid "$BIN" -js -sd "$dir" -a 127.0.0.1 -p "$port" </dev/null >>"$dir/nats.log" 2>&1 &
  pid=$!
  started nats "$pid" nats-server
  wait_ready nats "$dir/nats.log" "$pid" nats_info "$host" "$port"
  say "nats: ready (pid $pid)"
}

# The local edge (cdn-config edge) runs varnishd with vmod xkey; it is started by run.sh and by
# the tests themselves, so here it is only installed.
ensure_varnish() {
  local vmod
  vmod=$(compgen -G '/usr/lib/*/varnish/vmods/libvmod_xkey.so' | head -n 1 || true)
  if { command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ]; } && [ -n "$vmod" ]; then
    say "varnish: $( (varnishd -V 2>&1 || /usr/sbin/varnishd -V 2>&1) | head -n 1) with vmod xkey"
    return
  fi
  apt_install varnish varnish-modules
  compgen -G '/usr/lib/*/varnish/vmods/libvmod_xkey.so' >/dev/null ||
    die "varnish: vmod xkey still missing after installing varnish-modules"
}

# ---- Go ---------------------------------------------------------------------------------------

remember_go() {
  mkdir -p "$RUN_DIR"
  printf '%s\n' "$1" >"$RUN_DIR/go-bin"
  PATH=$1:$PATH
}

# newest_debian_go: the newest Go >= 1.21 that Debian offers as golang-1.N-go, e.g. 1.22.
newest_debian_go() {
  apt-cache search --names-only '^golang-1\.[0-9]+-go$' 2>/dev/null |
    sed -nE 's/^golang-(1\.([0-9]+))-go .*/\2 \1/p' | awk '$1 >= 21' | sort -n | tail -n 1 | cut -d' ' -f2
}

# fetch_toolchain VERSION: downloads Go VERSION as the module golang.org/toolchain from the module
# proxy with whatever go is installed (even one too old to switch toolchains by itself).
fetch_toolchain() {
  local want=$1 mod out dir tmp
  mod=golang.org/toolchain@v0.0.1-go$want.$(cd / && go env GOHOSTOS)-$(cd / && go env GOHOSTARCH)
  say "go: fetching go$want from the module proxy ($mod)"
  tmp=$(mktemp -d)
  out=$(cd "$tmp" && GO111MODULE=on go mod download -json "$mod" 2>&1) || true
  rm -rf "$tmp"
  dir=$(sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p' <<<"$out")
  if [ -z "$dir" ] || [ ! -f "$dir/bin/go" ]; then die "go: could not fetch $mod: $out"; fi
  # Module zips keep no file modes; the go command sets these bits itself when it switches.
  find "$dir/bin" "$dir/pkg/tool" -type f -exec chmod a+x {} +
  remember_go "$dir/bin"
}

ensure_go() {
  local want have='' v d recorded=''
  want=$(wanted_go_version)
  if [ -r "$RUN_DIR/go-bin" ]; then recorded=$(<"$RUN_DIR/go-bin"); fi
  rm -f "$RUN_DIR/go-bin"
  command -v go >/dev/null && have=$(local_go_version)
  if [ -n "$have" ] && ! version_lt "$have" "$want"; then
    say "go: go$have"
    return
  fi
  # A toolchain an earlier run fetched or found is kept while it is new enough.
  if [ -n "$recorded" ] && [ -x "$recorded/go" ]; then
    v=$(PATH=$recorded:$PATH local_go_version)
    if ! version_lt "$v" "$want"; then
      remember_go "$recorded"
      say "go: go$v (in $recorded)"
      return
    fi
  fi
  if [ -z "$have" ] || version_lt "$have" 1.21; then
    # Too old to fetch a toolchain by itself: look for a Debian Go >= 1.21, installed or not.
    for d in /usr/lib/go-1.*/bin; do
      [ -x "$d/go" ] || continue
      v=${d#/usr/lib/go-}
      v=${v%/bin}
      if ! version_lt "$v" 1.21 && { [ -z "$have" ] || version_lt "$have" "$v"; }; then
        remember_go "$d"
        have=$(local_go_version)
      fi
    done
  fi
  if [ -z "$have" ] || version_lt "$have" 1.21; then
    apt_update_once
    v=$(newest_debian_go)
    if [ -n "$v" ]; then
      apt_install "golang-$v-go"
      remember_go "/usr/lib/go-$v/bin"
      have=$(local_go_version)
    else
      [ -n "$have" ] || apt_install golang-go
      fetch_toolchain "$want"
      say "go: go$(local_go_version) (in $(<"$RUN_DIR/go-bin"))"
      return
    fi
  fi
  say "go: go$have is older than go.mod's go$want; fetching it through GOTOOLCHAIN=auto"
  (cd "$ROOT" && GOTOOLCHAIN=auto go version) || die "go: could not fetch go$want through the module proxy"
}

# go test -race needs cgo, and so a C compiler.
ensure_cc() {
  if command -v gcc >/dev/null; then return; fi
  apt_install gcc libc6-dev
}

mkdir -p "$PID_DIR"
ensure_go
ensure_cc
ensure_redis
ensure_mariadb
ensure_nats
ensure_varnish
