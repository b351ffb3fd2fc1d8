#!/usr/bin/env bash
# Times a new revision of N replicas of the same FROM scratch image on one
# engine, from the command to the moment N containers of the new revision
# run and none of the old one does:
#   - skiff's rolling deployment with its defaults (minimumHealthyPercent
#     100, maximumPercent 200: every new task starts at once, and the old
#     ones stop once the new ones pass the health gate, --healthy-after,
#     5 s by default);
#   - skiff stopping and starting them all at once (minimumHealthyPercent
#     0, maximumPercent 100: every old task stops, then every new one
#     starts, with nothing to wait for);
#   - Swarm's `docker service update` with its defaults (one task at a
#     time, stop-first) and with --update-parallelism 0 (all at once).
# A revision is a new container label (rev=K) on the same image. Each
# round runs skiff and Swarm in turn, the first of them alternating, RUNS
# times; it prints medians and ratios.
# It runs `docker swarm init` if the engine is not in a swarm, and leaves
# the swarm again when done.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-2}
N=${N:-100}
HEALTHY_AFTER=${HEALTHY_AFTER:-5s}
PORT=17180

joined=0
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  joined=1
fi
cleanup() {
  docker service rm bench-deploy-swarm >/dev/null 2>&1 || true
  SKIFF_ADDR=http://127.0.0.1:$PORT "$SKIFF" rm bench-deploy >/dev/null 2>&1 || true
  [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  docker ps -aq --filter label=skiff.service=bench-deploy | xargs -r docker rm -f >/dev/null
  # Swarm's service removal has crashed this engine while tasks were still
  # stopping; wait for them before leaving.
  until [ -z "$(docker ps -aq --filter label=com.docker.swarm.service.name=bench-deploy-swarm)" ]; do sleep 0.2; done
  [ "$joined" = 1 ] && docker swarm leave --force >/dev/null
  true
}
trap cleanup EXIT

start_agent bench-deploy $PORT --dev --healthy-after "$HEALTHY_AFTER"
export SKIFF_ADDR=http://127.0.0.1:$PORT

# settle lets the containers just started install their signal handlers
# (see swarm.sh) before they are replaced.
settle() { sleep 2; }

# revision_file REV MIN MAX prints the service file of revision REV with
# the deployment bounds MIN and MAX percent.
revision_file() {
  printf '{"service":"bench-deploy","desiredCount":%d,"deploymentConfiguration":{"minimumHealthyPercent":%d,"maximumPercent":%d},"taskDefinition":{"family":"bench-deploy","containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","command":["/testapp","serve"],"memory":16,"dockerLabels":{"rev":"%d"}}]}}' \
    "$N" "$2" "$3" "$1"
}

# wait_revision SERVICE_LABEL REV waits until N containers of the service
# run, all of revision REV.
wait_revision() {
  local deadline=$(( $(date +%s) + 900 ))
  until [ "$(running "$1")" -eq "$N" ] && [ "$(docker ps -q --filter "label=$1" --filter "label=rev=$2" --filter status=running | wc -l)" -eq "$N" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout waiting for $N containers of rev $2 with $1" >&2; return 1; }
    sleep 0.1
  done
}

skiff_run() {
  local t0
  revision_file 1 100 200 | "$SKIFF" apply --detach -f - >/dev/null
  wait_revision skiff.service=bench-deploy 1
  settle
  t0=$(now)
  revision_file 2 100 200 | "$SKIFF" apply --detach -f - >/dev/null
  wait_revision skiff.service=bench-deploy 2
  rolling=$(elapsed "$t0")
  settle
  t0=$(now)
  revision_file 3 0 100 | "$SKIFF" apply --detach -f - >/dev/null
  wait_revision skiff.service=bench-deploy 3
  atonce=$(elapsed "$t0")
  "$SKIFF" rm bench-deploy >/dev/null
  wait_count skiff.service=bench-deploy 0
  # The agent removes its stopped containers itself; what it has not yet
  # may be mid-removal.
  docker ps -aq --filter label=skiff.service=bench-deploy | xargs -r docker rm -f >/dev/null 2>&1 || true
  echo "skiff: rolling $rolling s, all at once $atonce s" >&2
}

swarm_run() {
  local t0 svc=com.docker.swarm.service.name=bench-deploy-swarm
  docker service create --detach --no-resolve-image --name bench-deploy-swarm --replicas "$N" --container-label rev=1 \
    skiff-testapp:latest /testapp serve >/dev/null
  wait_revision "$svc" 1
  settle
  t0=$(now)
  docker service update --detach --no-resolve-image --container-label-add rev=2 bench-deploy-swarm >/dev/null
  wait_revision "$svc" 2
  swarm_default=$(elapsed "$t0")
  settle
  t0=$(now)
  docker service update --detach --no-resolve-image --update-parallelism 0 --container-label-add rev=3 bench-deploy-swarm >/dev/null
  wait_revision "$svc" 3
  swarm_atonce=$(elapsed "$t0")
  docker service scale --detach bench-deploy-swarm=0 >/dev/null
  wait_count "$svc" 0
  sleep 1
  docker service rm bench-deploy-swarm >/dev/null
  until [ -z "$(docker ps -aq --filter "label=$svc")" ]; do sleep 0.2; done
  echo "Swarm: defaults $swarm_default s, all at once $swarm_atonce s" >&2
}

ratio() { echo "$1/$2" | bc -l; }
kr=(); ka=(); sr=(); sa=()
for r in $(seq "$RUNS"); do
  for j in 0 1; do
    case $(( (r + j) % 2 )) in
      0) skiff_run; kr+=("$rolling"); ka+=("$atonce") ;;
      1) swarm_run; sr+=("$swarm_default"); sa+=("$swarm_atonce") ;;
    esac
  done
done
mkr=$(median "${kr[@]}"); mka=$(median "${ka[@]}"); msr=$(median "${sr[@]}"); msa=$(median "${sa[@]}")
echo "| replicas | skiff rolling (s) | skiff all at once (s) | rolling - all at once (s) | Swarm update, defaults (s) | Swarm update, all at once (s) | skiff rolling / Swarm defaults |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
printf '| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n' "$N" "$mkr" "$mka" "$(echo "$mkr - $mka" | bc -l)" "$msr" "$msa" "$(ratio "$mkr" "$msr")"
echo
echo "runs: skiff rolling ${kr[*]}; skiff all at once ${ka[*]}; Swarm defaults ${sr[*]}; Swarm all at once ${sa[*]} (health gate $HEALTHY_AFTER)"
