#!/usr/bin/env bash
# Builds the KVM test host's initramfs (a static l1_init as /init, and /dev/console) and caches
# it by a hash of its inputs (l1_init.c, this script, the compiler's version).
#   build-l1-initramfs.sh [--cache-dir=DIR]
# Prints the path of the cpio archive. A hit returns at once; concurrent runs wait for each
# other; the archive appears only complete.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_dir="${RKT_L1_CACHE:-/var/cache/rkt-build/l1-init}"
for arg in "$@"; do
  case "$arg" in
    --cache-dir=*) cache_dir="${arg#*=}" ;;
    *) echo "build-l1-initramfs: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
cc="${CC:-gcc}"
command -v "$cc" >/dev/null || { echo "build-l1-initramfs: no C compiler ($cc)" >&2; exit 1; }

hash="$(
  {
    sha256sum "$here/l1_init.c" "${BASH_SOURCE[0]}" | cut -d' ' -f1
    "$cc" --version | head -n1
  } | sha256sum | cut -d' ' -f1
)"
out="$cache_dir/$hash/initramfs.cpio"
[[ -f "$out" ]] && { echo "$out"; exit 0; }

mkdir -p "$cache_dir"
exec {lock_fd}>"$cache_dir/.lock-$hash"
flock "$lock_fd"
[[ -f "$out" ]] && { echo "$out"; exit 0; }

work="$(mktemp -d "$cache_dir/.build-$hash.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/dev" "$work/result"
"$cc" -static -O2 -Wall -Wextra -Werror -o "$work/root/init" "$here/l1_init.c"
strip "$work/root/init"
mknod "$work/root/dev/console" c 5 1
(cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet) \
  >"$work/result/initramfs.cpio"
rm -rf "$cache_dir/$hash"
mv -T "$work/result" "$cache_dir/$hash"
echo "$out"
