#!/usr/bin/env bash
# Times skiff beside Docker Swarm and beside the engine's own limit on the
# same engine: for N replicas of the same FROM scratch image, submit -> all
# N running, and scale to 0 -> none running, alternating the three (each
# round in another order), RUNS times each. The engine's limit is
# enginelimit, which creates and starts the containers straight through the
# Docker client with ENGINE_K workers, then stops and removes them. Prints
# medians and ratios.
# It runs `docker swarm init` if the engine is not in a swarm, and leaves
# the swarm again when done.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
SIZES=${SIZES:-"10 50 100 200"}
ENGINE_K=${ENGINE_K:-4}
PORT=17170
ENGINE="$ROOT/test/bench/.enginelimit"
go build -C "$ROOT" -o "$ENGINE" ./test/bench/enginelimit

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
  docker ps -aq --filter label=skiff.node=enginelimit | xargs -r docker rm -f >/dev/null
  [ "$joined" = 1 ] && docker swarm leave --force >/dev/null
  true
}
trap cleanup EXIT

start_agent bench $PORT --dev
# A --dev agent serves plain http; the scheme keeps a ca.pem that some
# other agent left in ./skiff-data from sending the client to https.
export SKIFF_ADDR=http://127.0.0.1:$PORT

# settle lets the containers just started install their signal handlers
# before the stop: a program that is PID 1 ignores a SIGTERM that comes
# before it handles one, and is killed only at the stop timeout.
settle() { sleep 2; }

engine_run() {
  local n=$1 t0
  t0=$(now)
  "$ENGINE" -n "$n" -k "$ENGINE_K" up >/dev/null
  wait_count skiff.node=enginelimit "$n"
  up=$(elapsed "$t0")
  settle
  t0=$(now)
  "$ENGINE" -k "$ENGINE_K" down >/dev/null &
  local pid=$!
  wait_count skiff.node=enginelimit 0
  down=$(elapsed "$t0")
  wait "$pid"
}

swarm_run() {
  local n=$1 t0
  t0=$(now)
  docker service create --detach --no-resolve-image --name bench-swarm --replicas "$n" skiff-testapp:latest /testapp serve >/dev/null
  wait_count com.docker.swarm.service.name=bench-swarm "$n"
  up=$(elapsed "$t0")
  settle
  t0=$(now)
  docker service scale --detach bench-swarm=0 >/dev/null
  wait_count com.docker.swarm.service.name=bench-swarm 0
  down=$(elapsed "$t0")
  # The engine's Swarm (20.10) has crashed removing a service whose tasks
  # were still shutting down; give them a moment.
  sleep 1
  docker service rm bench-swarm >/dev/null
  until [ -z "$(docker ps -aq --filter label=com.docker.swarm.service.name=bench-swarm)" ]; do sleep 0.2; done
}

skiff_run() {
  local n=$1 t0
  t0=$(now)
  service_file bench-skiff "$n" | "$SKIFF" apply -f - >/dev/null
  wait_count skiff.service=bench-skiff "$n"
  up=$(elapsed "$t0")
  settle
  t0=$(now)
  "$SKIFF" scale bench-skiff 0 >/dev/null
  wait_count skiff.service=bench-skiff 0
  down=$(elapsed "$t0")
  "$SKIFF" rm bench-skiff >/dev/null
  sleep 1
  docker ps -aq --filter label=skiff.service=bench-skiff | xargs -r docker rm -f >/dev/null
}

ratio() { echo "$1/$2" | bc -l; }
echo "| replicas | engine up (s) | Swarm up (s) | skiff up (s) | skiff/engine up | skiff/Swarm up | engine down (s) | Swarm down (s) | skiff down (s) | skiff/engine down | skiff/Swarm down |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in $SIZES; do
  eu=(); ed=(); su=(); sd=(); ku=(); kd=()
  for r in $(seq "$RUNS"); do
    # Each round begins with another tool, so that none always follows
    # the same one (and whatever it leaves the engine doing).
    for j in 0 1 2; do
      case $(( (r + j) % 3 )) in
        0) engine_run "$n"; eu+=("$up"); ed+=("$down") ;;
        1) swarm_run "$n"; su+=("$up"); sd+=("$down") ;;
        2) skiff_run "$n"; ku+=("$up"); kd+=("$down") ;;
      esac
    done
  done
  meu=$(median "${eu[@]}"); msu=$(median "${su[@]}"); mku=$(median "${ku[@]}")
  med=$(median "${ed[@]}"); msd=$(median "${sd[@]}"); mkd=$(median "${kd[@]}")
  printf '| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n' "$n" \
    "$meu" "$msu" "$mku" "$(ratio "$mku" "$meu")" "$(ratio "$mku" "$msu")" \
    "$med" "$msd" "$mkd" "$(ratio "$mkd" "$med")" "$(ratio "$mkd" "$msd")"
done
