#!/usr/bin/env bash
# Footprint of idle agents running 50 tasks of the test image: one node,
# then a three-node cluster on 127.0.0.1. For each agent (in a cluster:
# each of the three, named leader or follower) it prints RSS, and beside it
# the two parts of it, anonymous memory (heap, stacks, runtime) and file
# pages (mostly the binary's own code and tables), its share of one core
# over CPU_SECONDS, and the bytes it wrote to disk over WRITE_SECONDS
# scaled to an hour; then the binary's size. Extra agent
# flags can be given in AGENT_FLAGS. With SCRAPE_SECONDS set, every agent's
# /v1/metrics is scraped at that interval while it is measured, as
# Prometheus would. RSS is read no sooner than SETTLE_SECONDS (40) after an
# agent started, so that it has released its start-up pages (30 s after
# start); with the default CPU_SECONDS it is read well after that anyway.
source "$(dirname "$0")/lib.sh"
CPU_SECONDS=${CPU_SECONDS:-60}
WRITE_SECONDS=${WRITE_SECONDS:-300}
TICK=$(getconf CLK_TCK)
read -r -a EXTRA <<<"${AGENT_FLAGS:-}"
SCRAPE_SECONDS=${SCRAPE_SECONDS:-}
SETTLE_SECONDS=${SETTLE_SECONDS:-40}
PIDS=()
SCRAPERS=()
# cleanup stops the agents and scrapers this script started, by pid.
cleanup() {
  for p in "${SCRAPERS[@]}"; do kill "$p" 2>/dev/null || true; done
  SCRAPERS=()
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  sleep 1
  docker ps -aq --filter label=skiff.service=footprint | xargs -r docker rm -f >/dev/null
  true
}
trap cleanup EXIT
cleanup

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# rss_mb PID FIELD prints a field of /proc/PID/status in MB: VmRSS, or its
# parts RssAnon and RssFile.
rss_mb() { awk -v f="$2:" '$1 == f {printf "%.1f", $2/1024}' "/proc/$1/status"; }
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
# age PID prints how many seconds ago the process started.
age() { awk -v t="$TICK" -v up="$(cut -d' ' -f1 /proc/uptime)" '{print int(up - $22 / t)}' "/proc/$1/stat"; }

# data_dir PORT prints the data dir of the agent whose API is on PORT.
data_dir() { pgrep -af "$SKIFF agent .*--http-port $1" | sed -n 's/.*--data-dir \([^ ]*\).*/\1/p' | head -1; }

# role PORT names the agent whose API is on 127.0.0.1:PORT as leader or
# follower, as it says itself.
role() {
  if agent_curl "$(data_dir "$1")" "$1" /v1/health | grep -q '"isLeader": true'; then echo leader; else echo follower; fi
}

# scrape PORT fetches the metrics of the agent on PORT every SCRAPE_SECONDS
# until killed.
scrape() {
  local dir; dir=$(data_dir "$1")
  while :; do agent_curl "$dir" "$1" /v1/metrics >/dev/null || true; sleep "$SCRAPE_SECONDS"; done
}

# measure LABEL PID:PORT... measures the agents with these pids, whose APIs
# are on these ports.
measure() {
  local label=$1; shift
  sleep 10 # let the tasks settle
  declare -A c0 w0
  local pp p
  if [ -n "$SCRAPE_SECONDS" ]; then
    for pp in "$@"; do scrape "${pp#*:}" & SCRAPERS+=("$!"); done
  fi
  for pp in "$@"; do p=${pp%%:*}; c0[$p]=$(cpu_ticks "$p"); w0[$p]=$(written "$p"); done
  sleep "$CPU_SECONDS"
  declare -A cpu
  for pp in "$@"; do p=${pp%%:*}; cpu[$p]=$(echo "($(cpu_ticks "$p") - ${c0[$p]}) * 100 / $TICK / $CPU_SECONDS" | bc -l); done
  sleep $(( WRITE_SECONDS > CPU_SECONDS ? WRITE_SECONDS - CPU_SECONDS : 0 ))
  for pp in "$@"; do
    p=${pp%%:*}
    while [ "$(age "$p")" -lt "$SETTLE_SECONDS" ]; do sleep 1; done
  done
  local i=1 name
  for pp in "$@"; do
    p=${pp%%:*}
    name="agent $i"
    [ $# -eq 1 ] || name="agent $i ($(role "${pp#*:}"))"
    local w=$(( $(written "$p") - ${w0[$p]} ))
    printf '| %s, %s | %s MB | %s MB | %s MB | %.2f %% | %.1f KB/h (measured over %d s) |\n' "$label" "$name" \
      "$(rss_mb "$p" VmRSS)" "$(rss_mb "$p" RssAnon)" "$(rss_mb "$p" RssFile)" "${cpu[$p]}" \
      "$(echo "$w * 3600 / $WRITE_SECONDS / 1024" | bc -l)" "$WRITE_SECONDS"
    i=$((i+1))
  done
}

echo "| set-up | RSS | anonymous | file | CPU (one core) | written to disk |"
echo "| --- | --- | --- | --- | --- | --- |"

start_agent solo 17270 --dev "${EXTRA[@]}"
PIDS=("$AGENT_PID")
service_file footprint 50 | SKIFF_ADDR=http://127.0.0.1:17270 "$SKIFF" apply -f - >/dev/null
wait_count skiff.service=footprint 50
measure "one node, 50 tasks" "$AGENT_PID:17270"
SKIFF_ADDR=http://127.0.0.1:17270 "$SKIFF" rm footprint >/dev/null
wait_count skiff.service=footprint 0
cleanup
PIDS=()

TOKEN=$("$SKIFF" token generate)
for i in 1 2 3; do
  start_agent "node$i" $((17300 + i*10)) --bootstrap-expect 3 --join 127.0.0.1:17312 --token "$TOKEN" \
    --port-range "$((30000 + i*1000))-$((30999 + i*1000))" "${EXTRA[@]}" &
done
wait
sleep 1
AGENTS=()
for i in 1 2 3; do
  p=$(pgrep -f "$SKIFF agent .*--http-port $((17300 + i*10))")
  PIDS+=("$p"); AGENTS+=("$p:$((17300 + i*10))")
done
# The cluster's API needs its management token and is https with the
# cluster's CA, both of which every agent keeps in its data dir.
DIR1=$(pgrep -af "$SKIFF agent .*--http-port 17310" | sed -n 's/.*--data-dir \([^ ]*\).*/\1/p' | head -1)
service_file footprint 50 | SKIFF_ADDR=127.0.0.1:17310 "$SKIFF" --token "$(cat "$DIR1/management-token")" --cacert "$DIR1/ca.pem" apply -f - >/dev/null
wait_count skiff.service=footprint 50
measure "three nodes, 50 tasks" "${AGENTS[@]}"

printf '| binary | %s MB (go build), %s MB (-ldflags "-s -w") | | | | |\n' \
  "$(echo "$(stat -c %s "$SKIFF") / 1048576" | bc -l | xargs printf '%.1f')" \
  "$(go build -C "$ROOT" -ldflags '-s -w' -o "$SKIFF.stripped" . && echo "$(stat -c %s "$SKIFF.stripped") / 1048576" | bc -l | xargs printf '%.1f'; rm -f "$SKIFF.stripped")"
