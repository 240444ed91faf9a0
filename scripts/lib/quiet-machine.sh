# Sourced by load.sh and soak.sh: wait (a bounded number of times) until the
# 1-minute load average is below LOAD_MAX, so a measurement does not share
# the cores with a build. Runs anyway after the last try, and says so.
wait_for_quiet_machine() {
  local max="${LOAD_MAX:-1.0}" tries="${LOAD_WAIT_TRIES:-10}" pause="${LOAD_WAIT_SECONDS:-30}" i load
  for ((i = 1; i <= tries; i++)); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$max" 'BEGIN { exit !(l < m) }'; then
      echo "==> load average $load (< $max)"
      return 0
    fi
    echo "==> load average $load (>= $max), waiting ${pause}s ($i/$tries)"
    sleep "$pause"
  done
  echo "==> load average still $(cut -d' ' -f1 /proc/loadavg) after $tries tries: measuring anyway (see the load average in the report)"
}

# The taskset prefix for the harness and the --server-cpus flag, when PIN=1
# and there are at least two CPUs: the harness on CPU 0, servers on CPU 1.
pin_args() {
  if [ "${PIN:-0}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    harness_prefix=(taskset -c 0)
    server_flags=(--server-cpus 1)
  else
    harness_prefix=()
    server_flags=()
  fi
}
