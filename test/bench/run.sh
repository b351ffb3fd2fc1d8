#!/usr/bin/env bash
# Runs every skiff benchmark and prints the figures as Markdown tables:
# the Go benchmarks (scheduler, Raft commits, state size, control plane,
# failover on the multi-host set-up), skiff beside Docker Swarm and the
# engine's own limit, a new revision rolled beside all at once and Swarm's
# update (DEPLOY_RUNS rounds, 2 by default), and the footprint of idle
# agents. It needs Docker and
# takes about three quarters of an hour.
# BENCHMARKS.md explains each row.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SKIFF_REQUIRE_DOCKER=1

gobench() { # PKG PATTERN BENCHTIME
  go test -run '^$' -bench "$2" -benchtime "$3" -timeout 60m "$1" | awk '/^Benchmark/ {
    printf "| %s |", $1; for (i = 3; i < NF; i += 2) printf " %s %s;", $i, $(i+1); print " |" }'
}

echo "## Go benchmarks"
echo
echo "| benchmark | figures |"
echo "| --- | --- |"
gobench ./scheduler . 1x
gobench ./raft . 2s
gobench ./fsm . 1x
(cd test/bench/storecmp && gobench . . 1x)
gobench ./test ControlPlane 1x
gobench ./test Failover 20x
echo
echo "## skiff beside Docker Swarm and the engine's own limit (medians of ${RUNS:-5} runs)"
echo
test/bench/swarm.sh
echo
echo "## A new revision of 100 replicas: rolling, all at once, and Swarm's update (medians of ${DEPLOY_RUNS:-2} runs)"
echo
RUNS=${DEPLOY_RUNS:-2} N=100 test/bench/deploy.sh
echo
echo "## Footprint"
echo
test/bench/footprint.sh
