# Helpers shared by the benchmark scripts. Source it; it sets ROOT, SKIFF
# and builds the skiff binary and the test image.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SKIFF="$ROOT/test/bench/.skiff"
go build -C "$ROOT" -o "$SKIFF" .
"$ROOT/examples/build-testapp.sh" >/dev/null 2>&1

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

# running LABEL prints how many running containers carry the label.
running() { docker ps -q --filter "label=$1" --filter status=running | wc -l; }

# wait_count LABEL N waits until exactly N containers with the label run.
wait_count() {
  local deadline=$(( $(date +%s) + 300 ))
  until [ "$(running "$1")" -eq "$2" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout waiting for $2 containers with $1" >&2; return 1; }
    sleep 0.05
  done
}

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# agent_curl DIR PORT PATH GETs PATH from the API of the agent on
# 127.0.0.1:PORT whose data dir is DIR: over https, trusting the CA it
# wrote there and with the management token it keeps there, when it has a
# cluster token, and over plain http (--dev) otherwise. An agent's certificate names its node id, not an address, so
# curl is sent to the node id and told where that is.
agent_curl() {
  local dir=$1 port=$2 path=$3
  if [ -f "$dir/ca.pem" ]; then
    local id; id=$(cat "$dir/node-id")
    local auth=()
    [ -f "$dir/management-token" ] && auth=(-H "Authorization: Bearer $(cat "$dir/management-token")")
    curl -sf --cacert "$dir/ca.pem" --resolve "$id:$port:127.0.0.1" "${auth[@]}" "https://$id:$port$path"
  else
    curl -sf "http://127.0.0.1:$port$path"
  fi
}

# start_agent NAME PORTBASE EXTRA... starts an agent on 127.0.0.1 with
# ports PORTBASE (http), +1 (raft), +2 (gossip) and a fresh data dir; its
# pid is in AGENT_PID.
start_agent() {
  local name=$1 base=$2; shift 2
  local dir; dir=$(mktemp -d)
  "$SKIFF" agent --bind 127.0.0.1 --name "$name" --data-dir "$dir" --http-port "$base" --raft-port $((base+1)) \
    --gossip-port $((base+2)) --log-level warn "$@" 2>"$dir.log" &
  AGENT_PID=$!
  AGENT_DIR=$dir
  local deadline=$(( $(date +%s) + 30 ))
  until agent_curl "$dir" "$base" /v1/health | grep -q '"isLeader": true\|"leader": "[^"]'; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "agent $name did not start; see $dir.log" >&2; return 1; }
    sleep 0.1
  done
}

# service_file NAME COUNT prints a service of the test image without ports.
service_file() {
  printf '{"service":"%s","desiredCount":%d,"taskDefinition":{"family":"%s","containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","command":["/testapp","serve"],"memory":16}]}}' "$1" "$2" "$1"
}
