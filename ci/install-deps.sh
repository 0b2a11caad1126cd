#!/usr/bin/env bash
# Installs everything the build, the tests and the benchmarks need from Debian's packages.
# Idempotent: packages already present are left alone.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang-format clang-tidy
  clang libclang-rt-14-dev llvm
  libsqlite3-dev libssl-dev libarchive-dev libzstd-dev nettle-dev nlohmann-json3-dev libcli11-dev
  libcurl4-openssl-dev libseccomp-dev libcap-dev libgtest-dev libgmock-dev libbenchmark-dev
  libtss2-dev
  qemu-system-x86 erofs-utils cryptsetup-bin busybox-static e2fsprogs
  linux-source-6.1 flex bison bc libelf-dev libssl-dev cpio xz-utils lz4
  runc skopeo docker-registry apache2-utils umoci swtpm swtpm-tools tpm2-tools containernetworking-plugins
  iproute2 iptables podman python3 python3-pytest hyperfine zstd
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
