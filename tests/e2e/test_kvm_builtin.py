"""The kvm stage1 with the built-in VMM, end to end, where KVM runs real Linux guests: the same
cases as the QEMU engine (the `kvm-builtin` parameters of test_stage1_scenarios.py, test_kvm.py,
test_kvm_confinement.py, test_kvm_limits.py, test_network.py and test_verity.py). On a host
whose KVM cannot (kvm_pvm), they run inside the KVM test host (an L1 VM under QEMU TCG with
KVM of its own, tests/kvm-host), all in one pytest there; where the built-in VMM runs directly, those parameters run with the rest of the suite
and this test skips."""

from __future__ import annotations

import re
import sys

import pytest

from harness import REPO
from l1 import L1_FAILED, L1_TIMED_OUT, hidden_in_l1, require_l1, run_in_l1
from stage1_pods import builtin_engine_probe, require_kvm_stage1

pytestmark = pytest.mark.slow


def test_builtin_engine_pods_in_the_kvm_test_host(build_dir):
    require_kvm_stage1(build_dir)
    usable, reason = builtin_engine_probe(build_dir)
    if usable is None:
        pytest.skip(reason)
    if usable:
        pytest.skip("the built-in VMM runs here directly: its cases ran with the suite")
    require_l1()
    code, out = run_in_l1(
        [sys.executable, "-m", "pytest", "-q", "-k", "kvm-builtin or builtin_engine",
         "test_stage1_scenarios.py",
         "test_kvm.py",
         "test_kvm_confinement.py",
         "test_kvm_limits.py",
         "test_verity.py",
         "test_network.py"],
        timeout=2400, cwd=REPO / "tests" / "e2e", shares=hidden_in_l1(REPO, build_dir),
        env={"RKT_BUILD_DIR": str(build_dir)})
    tail = out[-8000:]
    assert code not in (L1_TIMED_OUT, L1_FAILED), tail
    assert code == 0, tail
    summary = [t for t in out.splitlines() if re.search(r"\d+ passed", t)]
    print("in the KVM test host:", summary[-1] if summary else "no summary")
    passed = re.search(r"(\d+) passed", out)
    assert passed and int(passed.group(1)) >= 20, tail
    # Inside the L1 nothing of the built-in engine may be skipped for want of KVM.
    assert "the built-in VMM cannot run here" not in out, tail
