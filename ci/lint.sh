#!/usr/bin/env bash
# The style gate: clang-format over every C/C++ file of the project, and clang-tidy (.clang-tidy)
# over the C++ sources a change touches. Fails on the first kind of finding it prints.
#   ci/lint.sh [--tidy-all] [--base REV] [BUILD_DIR]
# clang-tidy needs BUILD_DIR/compile_commands.json (ci/build.sh makes it). The files it checks are
# those changed since REV (default: RKT_LINT_BASE, else the commit in ci/lint-base: the last one
# whose changed sources all passed clang-tidy in a whole ci/test.sh run; moved forward after
# such a run), plus files not committed yet; --tidy-all
# checks every source (too slow for CI on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."

tidy_all=0
base=${RKT_LINT_BASE:-$(cat ci/lint-base 2>/dev/null)}
build=build
while (($#)); do
  case "$1" in
    --tidy-all) tidy_all=1 ;;
    --base) base=$2; shift ;;
    *) build=$1 ;;
  esac
  shift
done
status=0

mapfile -t sources < <(git ls-files -- '*.cpp' '*.h' '*.c' | grep -v '^tests/fuzz/corpus/')
# Files on disk that git does not know yet count too: a new file is checked before it is added.
mapfile -t untracked < <(git ls-files --others --exclude-standard -- '*.cpp' '*.h' '*.c')
sources+=("${untracked[@]}")

echo "==> clang-format --dry-run --Werror (${#sources[@]} files)"
bad=()
for f in "${sources[@]}"; do
  [[ -f "$f" ]] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  for f in "${bad[@]}"; do
    echo "lint: $f is not formatted as .clang-format says (run: clang-format -i $f)"
  done
  status=1
else
  echo "clang-format: every file is formatted"
fi

echo
if ((tidy_all)); then
  mapfile -t tidy < <(printf '%s\n' "${sources[@]}" | grep -E '\.cpp$')
  what="every C++ source"
else
  [[ -n "$base" ]] || base=HEAD~1
  if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    echo "lint: base revision $base does not exist; checking every C++ source"
    mapfile -t tidy < <(printf '%s\n' "${sources[@]}" | grep -E '\.cpp$')
    what="every C++ source"
  else
    mapfile -t tidy < <({ git diff --name-only --diff-filter=d "$base" -- '*.cpp'
                          printf '%s\n' "${untracked[@]}"; } | grep -E '\.cpp$' |
                        grep -v '^tests/fuzz/corpus/' | sort -u)
    what="the C++ sources changed since $(git rev-parse --short "$base")"
  fi
fi
# Only files the build compiles have a command line; the rest (fuzz targets without clang, guest
# payloads built by hand) are skipped by name.
db="$build/compile_commands.json"
if [[ ! -f "$db" ]]; then
  echo "lint: $db is missing (run ci/build.sh first)"
  exit 1
fi
mapfile -t known < <(python3 -c '
import json, os, sys
for e in json.load(open(sys.argv[1])):
    print(os.path.relpath(os.path.join(e["directory"], e["file"])))' "$db" | sort -u)
checked=()
for f in "${tidy[@]}"; do
  [[ -f "$f" ]] || continue
  if printf '%s\n' "${known[@]}" | grep -qxF "$f"; then checked+=("$f"); fi
done
echo "==> clang-tidy over ${#checked[@]} of ${#tidy[@]} files: $what"
if ((${#checked[@]})); then
  log=$(mktemp)
  # One file per run, so a finding in a header names the source that led the analyzer there.
  printf '%s\n' "${checked[@]}" |
    xargs -P "$(nproc)" -I{} bash -c 'set -o pipefail
      clang-tidy -p "$1" --quiet --warnings-as-errors="*" "$2" 2>&1 |
        sed -E "/(warning|error):/s|\$| (checking $2)|"' _ "$build" {} >"$log" 2>&1
  rc=$?
  grep -E '(warning|error):' "$log" | sort -u
  if ((rc != 0)); then
    echo "lint: clang-tidy found the problems above"
    status=1
  else
    echo "clang-tidy: no findings"
  fi
  rm -f "$log"
fi
exit $status
