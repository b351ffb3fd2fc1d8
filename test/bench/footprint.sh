#!/usr/bin/env bash
# Footprint of idle agents running 50 tasks of the test image: one node,
# then a three-node cluster on 127.0.0.1. For each agent it prints RSS,
# its share of one core over CPU_SECONDS, and the bytes it wrote to disk
# over WRITE_SECONDS scaled to an hour; then the binary's size.
source "$(dirname "$0")/lib.sh"
CPU_SECONDS=${CPU_SECONDS:-60}
WRITE_SECONDS=${WRITE_SECONDS:-300}
TICK=$(getconf CLK_TCK)
cleanup() {
  pkill -f "$SKIFF agent" || true
  sleep 1
  docker ps -aq --filter label=skiff.service=footprint | xargs -r docker rm -f >/dev/null
  true
}
trap cleanup EXIT
cleanup

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }

measure() {
  local label=$1; shift
  sleep 10 # let the tasks settle
  declare -A c0 w0
  for p in "$@"; do c0[$p]=$(cpu_ticks "$p"); w0[$p]=$(written "$p"); done
  sleep "$CPU_SECONDS"
  declare -A cpu
  for p in "$@"; do cpu[$p]=$(echo "($(cpu_ticks "$p") - ${c0[$p]}) * 100 / $TICK / $CPU_SECONDS" | bc -l); done
  sleep $(( WRITE_SECONDS > CPU_SECONDS ? WRITE_SECONDS - CPU_SECONDS : 0 ))
  local i=1
  for p in "$@"; do
    local w=$(( $(written "$p") - ${w0[$p]} ))
    printf '| %s, agent %d | %s MB | %.2f %% | %.1f KB/h (measured over %d s) |\n' "$label" "$i" "$(rss_mb "$p")" "${cpu[$p]}" \
      "$(echo "$w * 3600 / $WRITE_SECONDS / 1024" | bc -l)" "$WRITE_SECONDS"
    i=$((i+1))
  done
}

echo "| set-up | RSS | CPU (one core) | written to disk |"
echo "| --- | --- | --- | --- |"

start_agent solo 17270 --dev
PIDS=("$AGENT_PID")
service_file footprint 50 | SKIFF_ADDR=http://127.0.0.1:17270 "$SKIFF" apply -f - >/dev/null
wait_count skiff.service=footprint 50
measure "one node, 50 tasks" "${PIDS[@]}"
SKIFF_ADDR=http://127.0.0.1:17270 "$SKIFF" rm footprint >/dev/null
wait_count skiff.service=footprint 0
cleanup
PIDS=()

TOKEN=$("$SKIFF" token generate)
for i in 1 2 3; do
  start_agent "node$i" $((17300 + i*10)) --bootstrap-expect 3 --join 127.0.0.1:17312 --token "$TOKEN" \
    --port-range "$((30000 + i*1000))-$((30999 + i*1000))" &
done
wait
sleep 1
for i in 1 2 3; do PIDS+=("$(pgrep -f "$SKIFF agent .*--http-port $((17300 + i*10))")"); done
# The cluster's API needs its management token and is https with the
# cluster's CA, both of which every agent keeps in its data dir.
DIR1=$(pgrep -af "$SKIFF agent .*--http-port 17310" | sed -n 's/.*--data-dir \([^ ]*\).*/\1/p' | head -1)
service_file footprint 50 | SKIFF_ADDR=127.0.0.1:17310 "$SKIFF" --token "$(cat "$DIR1/management-token")" --cacert "$DIR1/ca.pem" apply -f - >/dev/null
wait_count skiff.service=footprint 50
measure "three nodes, 50 tasks" "${PIDS[@]}"

printf '| binary | %s MB (go build), %s MB (-ldflags "-s -w") | | |\n' \
  "$(echo "$(stat -c %s "$SKIFF") / 1048576" | bc -l | xargs printf '%.1f')" \
  "$(go build -C "$ROOT" -ldflags '-s -w' -o "$SKIFF.stripped" . && echo "$(stat -c %s "$SKIFF.stripped") / 1048576" | bc -l | xargs printf '%.1f'; rm -f "$SKIFF.stripped")"
