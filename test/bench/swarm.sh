#!/usr/bin/env bash
# Times skiff beside Docker Swarm on the same engine: for N replicas of the
# same FROM scratch image, submit -> all N running, and scale to 0 -> all
# gone, alternating the two, RUNS times each. Prints medians and ratios.
# It runs `docker swarm init` if the engine is not in a swarm, and leaves
# the swarm again when done.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
SIZES=${SIZES:-"10 50 100"}
PORT=17170

joined=0
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  joined=1
fi
cleanup() {
  docker service rm bench-swarm >/dev/null 2>&1 || true
  SKIFF_ADDR=http://127.0.0.1:$PORT "$SKIFF" rm bench-skiff >/dev/null 2>&1 || true
  [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  docker ps -aq --filter label=skiff.service=bench-skiff | xargs -r docker rm -f >/dev/null
  [ "$joined" = 1 ] && docker swarm leave --force >/dev/null
  true
}
trap cleanup EXIT

start_agent bench $PORT --dev
# A --dev agent serves plain http; the scheme keeps a ca.pem that some
# other agent left in ./skiff-data from sending the client to https.
export SKIFF_ADDR=http://127.0.0.1:$PORT

swarm_run() {
  local n=$1 t0
  t0=$(now)
  docker service create --detach --no-resolve-image --name bench-swarm --replicas "$n" skiff-testapp:latest /testapp serve >/dev/null
  wait_count com.docker.swarm.service.name=bench-swarm "$n"
  up=$(elapsed "$t0")
  t0=$(now)
  docker service scale --detach bench-swarm=0 >/dev/null
  wait_count com.docker.swarm.service.name=bench-swarm 0
  down=$(elapsed "$t0")
  docker service rm bench-swarm >/dev/null
  until [ -z "$(docker ps -aq --filter label=com.docker.swarm.service.name=bench-swarm)" ]; do sleep 0.2; done
}

skiff_run() {
  local n=$1 t0
  t0=$(now)
  service_file bench-skiff "$n" | "$SKIFF" apply -f - >/dev/null
  wait_count skiff.service=bench-skiff "$n"
  up=$(elapsed "$t0")
  t0=$(now)
  "$SKIFF" scale bench-skiff 0 >/dev/null
  wait_count skiff.service=bench-skiff 0
  down=$(elapsed "$t0")
  "$SKIFF" rm bench-skiff >/dev/null
  sleep 1
  docker ps -aq --filter label=skiff.service=bench-skiff | xargs -r docker rm -f >/dev/null
}

echo "| replicas | swarm up (s) | skiff up (s) | skiff/swarm up | swarm down (s) | skiff down (s) | skiff/swarm down |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for n in $SIZES; do
  su=(); sd=(); ku=(); kd=()
  for r in $(seq "$RUNS"); do
    swarm_run "$n"; su+=("$up"); sd+=("$down")
    skiff_run "$n"; ku+=("$up"); kd+=("$down")
  done
  msu=$(median "${su[@]}"); mku=$(median "${ku[@]}"); msd=$(median "${sd[@]}"); mkd=$(median "${kd[@]}")
  printf '| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n' "$n" "$msu" "$mku" "$(echo "$mku/$msu" | bc -l)" "$msd" "$mkd" "$(echo "$mkd/$msd" | bc -l)"
done
