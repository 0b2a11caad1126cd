"""The KVM test host (tests/kvm-host/run-in-l1.sh): a command runs in an L1 VM with real KVM,
and its status, output, working directory, environment and shared directories come back;
rkt-vmm boots the project's guest kernel to a clean end in it. Each test boots one L1 under TCG
(a few seconds)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import require
from l1 import L1_FAILED, L1_TIMED_OUT, RUN_IN_L1, require_l1, run_in_l1

pytestmark = pytest.mark.slow

TINY_INIT = r"""
#include <sys/reboot.h>
#include <unistd.h>
int main(void) {
    static const char hello[] = "hello from the L2 guest\n";
    if (write(1, hello, sizeof hello - 1) < 0) return 1;
    sync();
    reboot(RB_AUTOBOOT);
    return 0;
}
"""


@pytest.fixture
def rkt_vmm(build_dir) -> Path:
    path = build_dir / "bin" / "rkt-vmm"
    require(os.access(path, os.X_OK), f"rkt-vmm not built: {path} is missing")
    return path


def test_command_status_output_cwd_env_and_shares(tmp_path):
    require_l1()
    (tmp_path / "from-host").write_text("handed in\n")
    script = (
        "echo to-stdout; echo to-stderr >&2; pwd; echo \"var=$L1_TEST_VAR in_l1=$RKT_IN_L1\"; "
        "cat from-host; "
        "echo kept > result && "  # the working directory (under /tmp) is shared back
        "touch /usr/share/rkt-l1-overlay-probe && echo overlay-writable; "  # throwaway overlay
        "test -c /dev/kvm && echo has-kvm; "
        "unshare -U -r true && echo userns-ok; "  # a real root, not a chroot
        "exit 7")
    code, out = run_in_l1(["sh", "-c", script], timeout=300, cwd=tmp_path,
                          env={"L1_TEST_VAR": "carried"}, force_l1=True)
    assert code == 7, out
    for want in ("to-stdout", "to-stderr", str(tmp_path), "var=carried in_l1=1", "handed in",
                 "overlay-writable", "has-kvm", "userns-ok"):
        assert want in out
    assert (tmp_path / "result").read_text() == "kept\n"
    assert not Path("/usr/share/rkt-l1-overlay-probe").exists()


def test_watchdog_stops_a_hung_command():
    require_l1()
    code, out = run_in_l1(["sleep", "1000"], timeout=20, force_l1=True)
    assert code == L1_TIMED_OUT, out
    assert "run-in-l1: timed out after 20 s" in out


def test_an_l1_that_cannot_boot_is_reported(tmp_path):
    require_l1()
    bogus = tmp_path / "not-a-kernel"
    bogus.write_bytes(b"\0" * 4096)
    proc = subprocess.run([str(RUN_IN_L1), "--force-l1", "--timeout", "120", "--", "true"],
                          env=dict(os.environ, RKT_L1_KERNEL=str(bogus)), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == L1_FAILED, proc.stdout + proc.stderr
    assert "run-in-l1: L1 failed: it ended without a result" in proc.stderr


def test_probe_usable_inside_unusable_outside(rkt_vmm):
    require_l1()
    code, out = run_in_l1([rkt_vmm, "--probe"], timeout=300, force_l1=True)
    assert code == 0, out
    assert out.startswith("usable: "), out
    if Path("/sys/module/kvm_pvm").exists():
        # Outside, the probe names why: kvm_pvm's /dev/kvm, or (a machine with the module loaded
        # but no device node) the missing /dev/kvm.
        outside = subprocess.run([str(rkt_vmm), "--probe"], capture_output=True, text=True)
        assert outside.returncode == 1
        assert outside.stdout.startswith("unusable: "), outside.stdout
        why = "kvm_pvm" if Path("/dev/kvm").exists() else "no /dev/kvm"
        assert why in outside.stdout, outside.stdout


def test_rkt_vmm_boots_the_guest_kernel_in_l1(rkt_vmm, build_dir, tmp_path):
    require_l1()
    kernel = build_dir / "lib" / "rkt" / "stage1" / "kvm" / "vmlinux"
    require(kernel.exists(), f"guest kernel not built: {kernel} is missing "
                             "(cmake --build build --target guest-kernel)")
    root = tmp_path / "initramfs"
    (root / "dev").mkdir(parents=True)
    (tmp_path / "init.c").write_text(TINY_INIT)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "init"), str(tmp_path / "init.c")],
                   check=True)
    subprocess.run(["mknod", str(root / "dev" / "console"), "c", "5", "1"], check=True)
    cpio = tmp_path / "initramfs.cpio"
    with open(cpio, "wb") as f:
        subprocess.run("find . | cpio -o -H newc --quiet", shell=True, cwd=root, stdout=f,
                       check=True)
    code, out = run_in_l1([rkt_vmm, "--kernel", kernel, "--initrd", cpio, "--mem", "128",
                           "--serial", "--cmdline", "quiet", "--timeout-ms", "120000"],
                          timeout=600, shares=[tmp_path], force_l1=True)
    assert code == 0, out
    assert "hello from the L2 guest" in out
    assert "vm exit: guest-reset" in out
