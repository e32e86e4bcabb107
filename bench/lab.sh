# bench/lab.sh: what the network-namespace labs share (bench/quorum-lab,
# bench/approaches). Sourced, never run: the sourcing script sets `prog`
# (its name in messages) first.
#
# A lab is a hub namespace holding a Linux bridge, and hosts, each a
# namespace of its own joined to the bridge by a veth pair whose bridge end
# stays in the hub: no interface ever appears in the caller's namespace, and
# with no default route no packet can leave the lab. Every namespace and
# every process a lab creates is removed on exit, whatever happens.

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "$*"; exit 1; }

# A duration as hb takes it (100ms, 2s, 1m) in whole milliseconds, for the
# arithmetic of waits and expectations.
to_ms() {
  case "$1" in
    *ms) echo $((${1%ms})) ;;
    *s) echo $((${1%s} * 1000)) ;;
    *m) echo $((${1%m} * 60000)) ;;
    *) return 1 ;;
  esac
}
# Seconds for sleep(1) from milliseconds.
secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }
now_ms() { date +%s%3N; }

# lab_require TOOL:PACKAGE...: root and these tools, or exit 77 (tools
# missing: a code of its own, apart from usage errors, 2).
lab_require() {
  local missing="" tool
  [ "$(id -u)" = 0 ] || missing="not root"
  for tool in "$@"; do
    command -v "${tool%%:*}" >/dev/null 2>&1 \
      || missing="${missing:+$missing, }no ${tool%%:*} (Debian: apt-get install ${tool#*:})"
  done
  if [ -n "$missing" ]; then
    echo "$prog: cannot run here: $missing" >&2
    exit 77
  fi
}

# lab_binaries BIN...: HB_BIN (release binaries built here when unset)
# holds every BIN, or exit 2. Sets `root` (the repository) and `HB_BIN`.
lab_binaries() {
  local b
  root=$(cd "$(dirname "$0")/.." && pwd)
  if [ -z "${HB_BIN:-}" ]; then
    say "building release binaries"
    (cd "$root" && cargo build --quiet --release --bins) || die "cargo build failed (HB_BIN=DIR uses binaries built already)"
    HB_BIN=$root/target/release
  fi
  HB_BIN=$(cd "$HB_BIN" && pwd)
  for b in "$@"; do [ -x "$HB_BIN/$b" ] || { say "no $HB_BIN/$b"; exit 2; }; done
}

# lab_init PREFIX BIN...: the run's work directory ($work, /tmp/PREFIX.*),
# the cleanup that ends it, and run copies of the binaries in $bin (a
# rebuild during the run must not change them between scenarios).
lab_init() {
  local prefix=$1; shift
  work=$(mktemp -d "/tmp/$prefix.XXXXXX")
  namespaces=()   # every namespace this run created, deleted by cleanup
  declare -gA live # processes this run started and has not reaped yet (a
                   # reaped pid may be reused by another process: never signal it)
  trap lab_cleanup EXIT
  trap 'say "interrupted"; exit 130' INT
  trap 'say "terminated"; exit 143' TERM
  mkdir "$work/bin"
  for b in "$@"; do cp "$HB_BIN/$b" "$work/bin/"; done
  bin=$work/bin
}

# Runs at exit: ends every process and namespace of the run, then calls
# lab_on_exit if the script defines one. Logs are kept with KEEP_LOGS=1.
lab_cleanup() {
  local pid
  set +e
  trap '' INT TERM # a second signal must not cut the cleanup short
  { # stderr off: bash would report each killed job
    for pid in "${!live[@]}"; do kill -KILL "$pid"; done
    lab_teardown
    wait
  } 2>/dev/null
  declare -F lab_on_exit >/dev/null && lab_on_exit
  if [ "${KEEP_LOGS:-0}" = 1 ]; then say "logs kept in $work"; else rm -rf "$work"; fi
}

# Deletes every namespace of the run, ending what still runs in them (a
# process left in a namespace would keep it alive after `ip netns del`).
# One `ip` for all: a lab may have a thousand namespaces.
lab_teardown() {
  local pid ns
  [ "${#namespaces[@]}" -gt 0 ] || return 0
  for pid in $(printf 'netns pids %s\n' "${namespaces[@]}" | ip -force -batch - 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
  printf 'netns del %s\n' "${namespaces[@]}" | ip -force -batch - 2>/dev/null
  namespaces=()
}

# sleep(1) that a signal interrupts at once: bash runs traps only between
# commands, and `wait` is one it breaks out of. The sleep is tracked so that
# cleanup ends it too (it holds our stdout open).
pause() {
  sleep "$(secs "$1")" &
  local pid=$!
  live[$pid]=1
  wait "$pid"
  unset "live[$pid]"
}

new_ns() {
  ip netns add "$1" || die "cannot create network namespace $1"
  namespaces+=("$1")
  ip -n "$1" link set lo up
}

# lab_hub NS: the hub, a namespace with the bridge br0.
lab_hub() {
  new_ns "$1"
  ip -n "$1" link add br0 type bridge
  ip -n "$1" link set br0 up
}

# lab_join HUB PORT NS ADDR/PREFIX: a host NS on HUB's bridge, its end of
# the pair eth0 with ADDR, the bridge's end PORT.
lab_join() { lab_join_many "$1" <<<"$2 $3 $4"; }

# lab_join_many HUB: lab_join for each line "PORT NS ADDR/PREFIX" of
# stdin, with one `ip` for the namespaces and one for the bridge's ends.
# Not in a pipe: it adds to `namespaces`, which cleanup deletes.
lab_join_many() {
  local hub=$1 port ns addr ports=() nss=() addrs=() i
  while read -r port ns addr; do ports+=("$port") nss+=("$ns") addrs+=("$addr"); done
  printf 'netns add %s\n' "${nss[@]}" | ip -batch - || die "cannot create the hosts' network namespaces"
  namespaces+=("${nss[@]}")
  for i in "${!nss[@]}"; do
    printf 'link add %s type veth peer name eth0 netns %s\nlink set %s master br0 up\n' \
      "${ports[$i]}" "${nss[$i]}" "${ports[$i]}"
  done | ip -n "$hub" -batch - || die "cannot join the hosts to the bridge"
  for i in "${!nss[@]}"; do
    printf 'link set lo up\naddr add %s dev eth0\nlink set eth0 up\n' "${addrs[$i]}" \
      | ip -n "${nss[$i]}" -batch - || die "cannot set up ${nss[$i]}"
  done
}

# lab_in NS CMD...: CMD in NS's network (and only there: no mount
# namespace to set up, so it costs a thousand hosts nothing).
lab_in() {
  local ns=$1; shift
  nsenter "--net=/run/netns/$ns" "$@"
}

# lab_spawn NS OUT ERR CMD...: CMD in NS, in the background, tracked; its
# pid in $spawned. nsenter execs the command, so the pid is the program's own.
lab_spawn() {
  local ns=$1 out=$2 err=$3; shift 3
  # nsenter itself, not lab_in: a function would run in a subshell of its own.
  nsenter "--net=/run/netns/$ns" "$@" >"$out" 2>"$err" &
  spawned=$!
  live[$spawned]=1
}

alive() { [ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# SIGTERM (hb exits cleanly, flushing its output); SIGKILL after 2 s.
stop() {
  local pid=$1
  if [ -n "${live[$pid]:-}" ]; then
    kill -TERM "$pid" 2>/dev/null || true # it may be gone already (crash)
    for _ in $(seq 40); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && { say "pid $pid ignored SIGTERM; killing it"; kill -KILL "$pid" 2>/dev/null; }
    wait "$pid" 2>/dev/null || true
    unset "live[$pid]"
  fi
}

# SIGKILL, and reaped: a crash.
crash_pid() {
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true # reaped here, quietly
  unset "live[$1]"
}
