#!/usr/bin/env bash
# Builds static skiff binaries for the fleets skiff runs on: linux/amd64,
# linux/arm64 and linux/arm (ARMv7, as 32-bit Raspberry Pi OS runs), without
# cgo, without local paths and without debug information, into dist/ as
# skiff-linux-amd64, skiff-linux-arm64 and skiff-linux-armv7, with their
# SHA-256 sums in dist/SHA256SUMS.
#
#   scripts/build.sh              all three
#   scripts/build.sh linux/arm64  the ones named
#   VERSION=1.2.3 scripts/build.sh  stamped with a version, which skiff version prints
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(linux/amd64 linux/arm64 linux/arm)
fi

ldflags="-s -w"
if [ -n "${VERSION:-}" ]; then
  ldflags="$ldflags -X github.com/skiff-run/skiff/agent.Version=$VERSION"
fi

mkdir -p dist
for target in "${targets[@]}"; do
  goos=${target%/*}
  goarch=${target#*/}
  name="skiff-$goos-$goarch"
  goarm=
  if [ "$goarch" = arm ]; then
    goarm=7
    name="skiff-$goos-armv7"
  fi
  echo "building dist/$name"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm \
    go build -trimpath -ldflags "$ldflags" -o "dist/$name" .
done
(cd dist && sha256sum skiff-* > SHA256SUMS)
ls -l dist
