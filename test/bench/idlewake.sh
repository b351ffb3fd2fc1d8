#!/usr/bin/env bash
# What an idle cluster's leader and a follower wake for: three agents on
# 127.0.0.1 without tasks, given SETTLE_SECONDS (20) to form, then for each
# of the leader and one follower its CPU, context switches and system calls
# over PERF_SECONDS (30) with perf stat, and for the leader a count by
# system call over STRACE_SECONDS (20) and its wake-ups a second: the
# bursts of system calls in a STRACE_BURST_SECONDS (3) trace, cut wherever
# it was quiet for 5 ms. Needs perf and strace (apt-get install
# linux-perf strace). Extra agent flags can be given in AGENT_FLAGS.
source "$(dirname "$0")/lib.sh"
SETTLE_SECONDS=${SETTLE_SECONDS:-20}
PERF_SECONDS=${PERF_SECONDS:-30}
STRACE_SECONDS=${STRACE_SECONDS:-20}
STRACE_BURST_SECONDS=${STRACE_BURST_SECONDS:-3}
read -r -a EXTRA <<<"${AGENT_FLAGS:-}"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
}
trap cleanup EXIT

TOKEN=$("$SKIFF" token generate)
for i in 1 2 3; do
  start_agent "node$i" $((17400 + i*10)) --bootstrap-expect 3 --join 127.0.0.1:17412 --token "$TOKEN" \
    --port-range "$((33000 + i*1000))-$((33999 + i*1000))" --no-ingress "${EXTRA[@]}" &
done
wait
leader= follower=
for i in 1 2 3; do
  port=$((17400 + i*10))
  p=$(pgrep -f "$SKIFF agent .*--http-port $port")
  PIDS+=("$p")
  dir=$(pgrep -af "$SKIFF agent .*--http-port $port" | sed -n 's/.*--data-dir \([^ ]*\).*/\1/p' | head -1)
  if agent_curl "$dir" "$port" /v1/health | grep -q '"isLeader": true'; then leader=$p; else follower=$p; fi
done
[ -n "$leader" ] && [ -n "$follower" ] || { echo "no leader and follower among ${PIDS[*]}" >&2; exit 1; }
sleep "$SETTLE_SECONDS"

for role in leader follower; do
  pid=${!role}
  echo "== $role (pid $pid): perf stat over $PERF_SECONDS s"
  perf stat -e task-clock,context-switches,raw_syscalls:sys_enter -p "$pid" -- sleep "$PERF_SECONDS" 2>&1 |
    awk -v s="$PERF_SECONDS" '/task-clock/ {printf "CPU %.2f %% of one core\n", $1 / 10 / s}
      /context-switches/ {gsub(",", "", $1); printf "%.0f context switches a second\n", $1 / s}
      /sys_enter/ {gsub(",", "", $1); printf "%.0f system calls a second\n", $1 / s}'
done

echo "== leader: system calls over $STRACE_SECONDS s"
# strace ends by timeout's signal, which pipefail would take for a failure.
{ timeout "$STRACE_SECONDS" strace -c -f -p "$leader" 2>&1 || true; } |
  awk '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ && $NF != "total" {print $4, $NF}' | sort -rn | head -10

echo "== leader: wake-ups a second"
trace=$(mktemp)
timeout "$STRACE_BURST_SECONDS" strace -f -tt -p "$leader" -o "$trace" 2>/dev/null || true
awk '{split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]; if (n == 0) first = s;
      if (n == 0 || s - last > 0.005) bursts++; last = s; n++}
     END {if (last > first) printf "%d bursts of system calls in %.1f s: %.1f a second, %.0f calls each\n", bursts, last - first, bursts / (last - first), n / bursts}' "$trace"
rm -f "$trace"
