#!/usr/bin/env bash
# The README's first command, on a fresh Debian 12 machine as root: installs the Debian packages
# rkt needs, builds it (the first build compiles the guest kernel, about 8 minutes on 2 cores,
# then cached), makes a test image and runs a real pod with the default stage1 (kvm: the pod runs
# in its own VM). Prints what it does and the pod's output; exits 0 when the pod ran.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { echo; echo "==> $*"; }

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (it installs packages, and pods need root)" >&2
  exit 1
fi

step "installing dependencies (Debian packages, ci/install-deps.sh)"
./ci/install-deps.sh

step "building rkt into build/ (ci/build.sh)"
./ci/build.sh

work=$(mktemp -d /tmp/rkt-setup.XXXXXX)
rkt=("$root/build/bin/rkt" "--dir=$work/data" "--local-config=$work/etc")
cleanup() {
  "${rkt[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "making a test image: an OCI layout holding the inspect test program (tests/fixtures/images.py)"
python3 tests/fixtures/images.py inspect "$work/inspect" --inspect build/tests/fixtures/inspect

step "running a pod with the default stage1 (kvm)"
cmd=("${rkt[@]}" --insecure-options=image run "$work/inspect" --exec=/inspect --
     "--print-msg=hello from a pod in its own VM" --print-hostname --read-file=/proc/version)
printf '$ rkt'; printf ' %q' "${cmd[@]:3}"; echo
set +e
"${cmd[@]}"
code=$?
set -e
echo
if [[ $code -ne 0 ]]; then
  echo "setup: the pod failed (exit code $code)" >&2
  exit 1
fi
echo "setup: done. rkt is build/bin/rkt; the pod above ran in a VM (its kernel is the guest's)."
