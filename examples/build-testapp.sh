#!/usr/bin/env bash
# Builds skiff-testapp:latest, a FROM scratch image of the small static HTTP
# server in test/testapp, so that the quick start needs no registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -C "$root" -o "$dir/testapp" ./test/testapp
printf 'FROM scratch\nCOPY testapp /testapp\nCMD ["/testapp", "serve"]\n' > "$dir/Dockerfile"
docker build -q -t skiff-testapp:latest "$dir"
