# What the scripts that run hb share; sourced, from the repository root.

# HB_BIN: the directory of the binaries. Unless set, the release binaries,
# built first (the first time takes a minute or two, and says so).
hb_binaries() {
  if [ -z "${HB_BIN:-}" ]; then
    if [ ! -x target/release/hb-listen ]; then
      printf '# %s\n' "building the release binaries (the first time: a minute or two)" >&2
    fi
    cargo build --release --bins 2>&1 | grep -v '^ *Finished' >&2 || true
    HB_BIN=target/release
  fi
  export HB_BIN
}

# Waits (5 s at most) until the file $2 has a line that matches $1 (grep
# -E); fails if none comes.
hb_wait_for() {
  for _ in $(seq 100); do grep -qE "$1" "$2" 2>/dev/null && return; sleep 0.05; done
  return 1
}

# Starts hb-listen on a free loopback port, its stderr to the file $1,
# with the flags that follow (its stdout is the caller's: redirect the
# call); sets `listener` (its pid) and `addr` (where it listens) once it
# says where.
hb_listener() {
  local err=$1
  shift
  "$HB_BIN/hb-listen" --listen 127.0.0.1:0 "$@" 2>"$err" &
  listener=$!
  hb_wait_for 'listening on' "$err" || { cat "$err" >&2; return 1; }
  addr=$(sed -n 's/.*listening on //p' "$err")
}
