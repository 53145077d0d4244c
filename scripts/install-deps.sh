#!/usr/bin/env bash
# Installs the Debian packages halo-sync needs to build, test and run the
# demo, only those missing. Runs apt-get update first when installing.
set -euo pipefail

packages=(build-essential cmake pkg-config git curl ca-certificates
  libzmq3-dev libmsgpack-dev libcurl4-openssl-dev libpq-dev libcmocka-dev
  libmicrohttpd-dev libjansson-dev libssl-dev
  postgresql postgresql-contrib postgresql-client clang libclang-rt-14-dev clang-format valgrind docker-compose jq
  prometheus)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
