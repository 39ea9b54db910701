#!/usr/bin/env bash
# Installs the Debian 12 packages faultline needs, only those missing.
# Run as root (or with sudo available). Safe to run again: does nothing when
# everything is installed.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make
  librdkafka-dev libsimdjson-dev librocksdb-dev libtbb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev libspdlog-dev libtomlplusplus-dev libcpp-httplib-dev
  zlib1g-dev libzstd-dev liblz4-dev
  kcat ripgrep
)
# Benchmarks also compare against DuckDB (through node) and time processes.
if [[ "${FAULTLINE_BENCH_DEPS:-0}" == 1 ]]; then
  packages+=(nodejs time)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm ships with the nodesource nodejs; Debian's nodejs needs the npm package.
if [[ "${FAULTLINE_BENCH_DEPS:-0}" == 1 ]] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
