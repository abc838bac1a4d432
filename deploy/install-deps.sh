#!/usr/bin/env bash
# Installs the Debian 12 packages petra needs to build, test and run. Idempotent: packages
# already present are left alone and apt-get update runs only when something is missing.
#   deploy/install-deps.sh            build + tests (including the Kafka test broker's JVM)
#   deploy/install-deps.sh --runtime  only what petrad needs at run time
#   deploy/install-deps.sh --bench    also the benchmark peer (python3-torch) and tools
set -euo pipefail

runtime=(librdkafka1 libuv1 libprotobuf-c1 libopenblas0-pthread liblapacke libmicrohttpd12)
build=(build-essential cmake pkg-config librdkafka-dev libuv1-dev libprotobuf-c-dev
       protobuf-c-compiler libopenblas-dev liblapacke-dev libmicrohttpd-dev
       kcat maven openjdk-17-jre-headless python3 systemd clang libclang-rt-14-dev groff-base
       python3-numpy python3-sklearn python3-xgboost python3-confluent-kafka openssl curl
       chromium fonts-dejavu-core)
# the real-data benchmark's PyTorch peer (tests/bench/real_data_peers.py runs without it)
bench=(python3-torch hyperfine valgrind)

want=("${runtime[@]}")
case "${1:-}" in
  --runtime) ;;
  --bench) want+=("${build[@]}" "${bench[@]}") ;;
  "") want+=("${build[@]}") ;;
  *) echo "usage: $0 [--runtime|--bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
