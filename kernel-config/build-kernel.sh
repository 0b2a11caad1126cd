#!/usr/bin/env bash
# Builds the guest kernel (or the KVM test host's kernel) from Debian's linux-source-6.1 and
# caches it by a hash of everything that goes into it.
#
#   build-kernel.sh [--profile=guest|l1-host] [--cache-dir=DIR] [--source=TARBALL] [--jobs=N]
#                   [--copy-to=DIR] [--config-only]
#
# Prints the cache directory (holding vmlinux, bzImage and config) on stdout as its last line.
# --config-only stops after checking the configuration (nothing is cached).
# --copy-to also copies vmlinux and bzImage into DIR (only when they differ, each atomically).
# A cache hit returns at once. Concurrent runs for the same inputs wait for each other (flock);
# a result appears only complete (built in a temporary directory, then renamed into place).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
profile=guest
cache_dir="${RKT_KERNEL_CACHE:-/var/cache/rkt-build/kernel}"
source_tarball=/usr/src/linux-source-6.1.tar.xz
jobs="$(nproc)"
copy_to=""
config_only=0

die() {
  echo "build-kernel: $*" >&2
  exit 1
}
log() { echo "build-kernel: $*" >&2; }

for arg in "$@"; do
  case "$arg" in
    --profile=*) profile="${arg#*=}" ;;
    --cache-dir=*) cache_dir="${arg#*=}" ;;
    --source=*) source_tarball="${arg#*=}" ;;
    --jobs=*) jobs="${arg#*=}" ;;
    --copy-to=*) copy_to="${arg#*=}" ;;
    --config-only) config_only=1 ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$arg' (see --help)" ;;
  esac
done

# The fragments of each profile, applied in this order on top of tinyconfig.
case "$profile" in
  guest) fragments=("$here/guest.config") ;;
  l1-host) fragments=("$here/guest.config" "$here/l1-host.config") ;;
  *) die "unknown profile '$profile' (known: guest, l1-host)" ;;
esac
for f in "${fragments[@]}"; do
  [[ -f "$f" ]] || die "missing config fragment $f"
done
shopt -s nullglob
patches=("$here"/patches/*.patch)
shopt -u nullglob

[[ -f "$source_tarball" ]] ||
  die "kernel source $source_tarball not found (install Debian's linux-source-6.1: ci/install-deps.sh)"

# The source is identified by its Debian package version when it is the packaged tarball (cheap),
# otherwise by the tarball's own hash.
source_id=""
if [[ "$source_tarball" == /usr/src/linux-source-6.1.tar.xz ]] && command -v dpkg-query >/dev/null; then
  source_id="linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)"
fi
if [[ "$source_id" == "linux-source-6.1 " || -z "$source_id" ]]; then
  source_id="tarball $(sha256sum "$source_tarball" | cut -d' ' -f1)"
fi

# The key: the source, the profile's fragments, the patches and this script, each with its name.
hash="$(
  {
    echo "source: $source_id"
    echo "profile: $profile"
    for f in "${fragments[@]}" "${patches[@]}" "${BASH_SOURCE[0]}"; do
      echo "file: $(basename "$f") $(sha256sum "$f" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -d' ' -f1
)"
out="$cache_dir/$hash"

have_result() { [[ -f "$out/vmlinux" && -f "$out/bzImage" && -f "$out/config" ]]; }
finish() {
  if [[ -n "$copy_to" ]]; then
    mkdir -p "$copy_to"
    for f in vmlinux bzImage; do
      if ! cmp -s "$out/$f" "$copy_to/$f"; then
        cp "$out/$f" "$copy_to/.$f.tmp.$$"
        mv -f "$copy_to/.$f.tmp.$$" "$copy_to/$f"
      fi
    done
  fi
  echo "$out"
  exit 0
}
if ((!config_only)) && have_result; then finish; fi

mkdir -p "$cache_dir"
exec {lock_fd}>"$cache_dir/.lock-$hash"
if ! flock -n "$lock_fd"; then
  log "another build of $hash is running; waiting for it"
  flock "$lock_fd"
fi
if ((!config_only)) && have_result; then finish; fi

work="$(mktemp -d "$cache_dir/.build-$hash.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

if ((config_only)); then
  log "checking the $profile configuration ($source_id) in $work"
else
  log "building the $profile kernel ($source_id) in $work; the result goes to $out"
fi
start=$SECONDS
tar -xf "$source_tarball" -C "$work"
src="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)"
[[ -n "$src" && -f "$src/Makefile" ]] || die "$source_tarball does not hold a kernel tree"

for p in "${patches[@]}"; do
  log "applying $(basename "$p")"
  patch -d "$src" -p1 --batch --forward <"$p" >&2 || die "patch $(basename "$p") does not apply"
done

# Reproducible builds: nothing of the build machine or time in the image.
export KBUILD_BUILD_TIMESTAMP="1970-01-01" KBUILD_BUILD_USER=rkt KBUILD_BUILD_HOST=rkt
make_() { make -C "$src" ARCH=x86_64 "$@"; }
make_ tinyconfig >"$work/config.log" 2>&1 || {
  tail -n 30 "$work/config.log" >&2
  die "make tinyconfig failed"
}
(cd "$src" && ARCH=x86_64 ./scripts/kconfig/merge_config.sh -m .config "${fragments[@]}") \
  >>"$work/config.log" 2>&1 || {
  tail -n 30 "$work/config.log" >&2
  die "merging the config fragments failed"
}
make_ olddefconfig >>"$work/config.log" 2>&1 || {
  tail -n 30 "$work/config.log" >&2
  die "make olddefconfig failed"
}

# Kconfig drops a symbol silently when one of its dependencies is off: check every request.
missing=()
for f in "${fragments[@]}"; do
  while IFS= read -r line; do
    if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
      grep -qxF -- "$line" "$src/.config" || {
        got="$(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$src/.config" || echo "absent")"
        missing+=("$line (got: $got; from $(basename "$f"))")
      }
    elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
      if grep -qE "^${BASH_REMATCH[1]}=" "$src/.config"; then
        missing+=("$line (got: $(grep -E "^${BASH_REMATCH[1]}=" "$src/.config"); from $(basename "$f"))")
      fi
    fi
  done <"$f"
done
if ((${#missing[@]})); then
  printf '  %s\n' "${missing[@]}" >&2
  die "${#missing[@]} requested config symbol(s) are not in the resulting .config; enable their dependencies in the fragment"
fi

if ((config_only)); then
  log "the $profile configuration has every requested symbol"
  exit 0
fi
log "configured; compiling with -j$jobs"
make_ -j"$jobs" vmlinux bzImage >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  cp "$work/build.log" "$cache_dir/failed-$hash.log"
  die "kernel build failed (full log: $cache_dir/failed-$hash.log)"
}

stage="$work/result"
mkdir "$stage"
cp "$src/vmlinux" "$stage/vmlinux"
cp "$src/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$src/.config" "$stage/config"
{
  echo "source: $source_id"
  echo "profile: $profile"
  echo "build_seconds: $((SECONDS - start))"
} >"$stage/build-info"
rm -rf "$out"
mv -T "$stage" "$out"
log "built in $((SECONDS - start)) s: $(stat -c %s "$out/bzImage") byte bzImage, $(stat -c %s "$out/vmlinux") byte vmlinux"
finish
