"""Fixtures every kvm stage1 test file uses: import them into the file (pytest then applies
the autouse ones to its tests)."""
import pytest

from stage1_pods import STAGE1S, qemu_processes_under, remove_pods, require_kvm_stage1


@pytest.fixture(autouse=True)
def _kvm(build_dir):
    require_kvm_stage1(build_dir)


@pytest.fixture(autouse=True)
def _no_leftovers(rkt):
    """After every test: no QEMU is left running for any of its pods, and the pods go."""
    yield
    remove_pods(rkt)
    assert qemu_processes_under(rkt.data_dir) == [], "a QEMU outlived its pod"


@pytest.fixture(params=["kvm-qemu", "kvm-builtin"])
def engine(request, build_dir):
    """The kvm stage1 with one engine (a stage1_pods.Stage1)."""
    s = STAGE1S[request.param]
    s.require(build_dir)
    return s
