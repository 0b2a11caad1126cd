"""Running a command where KVM can run real Linux guests: in the KVM test host (an L1 VM under
QEMU TCG with emulated SVM, tests/kvm-host/run-in-l1.sh), or directly when this host's KVM can.

    from l1 import require_l1, run_in_l1

    def test_kvm_pod(build_dir, tmp_path):
        require_l1()
        code, out = run_in_l1([str(build_dir / "bin" / "rkt"), "--dir=/tmp/rkt", "run", ...],
                              timeout=300, shares=[tmp_path])
        assert code == 3 and "hello" in out

Inside the L1 the command sees the host's root (writable through a throwaway overlay), the
current directory, fresh /tmp, /var/tmp and /run, and the directories in `shares` writable at
their own paths (writes there reach the host: the way to hand files in and results out).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_IN_L1 = REPO / "tests" / "kvm-host" / "run-in-l1.sh"
KERNEL_SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")
# run-in-l1.sh's own exit codes (its command's are passed through).
L1_TIMED_OUT = 124
L1_FAILED = 125

# The L1 mounts fresh tmpfs file systems here, hiding the host's directories below them.
L1_OWN_DIRS = (Path("/tmp"), Path("/var/tmp"), Path("/run"))

__all__ = ["run_in_l1", "require_l1", "l1_unavailable_reason", "hidden_in_l1", "L1_TIMED_OUT",
           "L1_FAILED", "RUN_IN_L1"]


def hidden_in_l1(*paths: Union[str, os.PathLike]) -> list[Path]:
    """Those of `paths` that the L1's own /tmp, /var/tmp or /run would hide (a checkout or a
    build in `mktemp -d`), without those inside another: what to pass as `shares`."""
    hidden = [Path(p).resolve() for p in paths]
    hidden = [p for p in hidden if any(p.is_relative_to(d) for d in L1_OWN_DIRS)]
    return [p for p in dict.fromkeys(hidden)
            if not any(p != q and p.is_relative_to(q) for q in hidden)]


def l1_unavailable_reason() -> Optional[str]:
    """Why run_in_l1 cannot work on this machine (one line), or None when it can."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return "the KVM test host needs x86-64 Linux"
    if os.geteuid() != 0:
        return "the KVM test host needs root (its initramfs has a device node)"
    for cmd, package in (("qemu-system-x86_64", "qemu-system-x86"), ("gcc", "gcc"),
                         ("cpio", "cpio")):
        if shutil.which(cmd) is None:
            return f"{cmd} not found (Debian package {package})"
    if not KERNEL_SOURCE.exists() and not os.environ.get("RKT_L1_KERNEL"):
        return f"no {KERNEL_SOURCE} to build the L1 kernel from (Debian package linux-source-6.1)"
    return None


def require_l1() -> None:
    """Skips the calling test, with the reason, when the KVM test host cannot run here."""
    reason = l1_unavailable_reason()
    if reason:
        pytest.skip(reason)


def run_in_l1(argv: Sequence[Union[str, os.PathLike]], timeout: float = 600,
              shares: Sequence[Union[str, os.PathLike]] = (), cwd: Union[str, os.PathLike, None] = None,
              env: Optional[Mapping[str, str]] = None, mem_mib: Optional[int] = None,
              cpus: Optional[int] = None, force_l1: bool = False) -> tuple[int, str]:
    """Runs argv in the KVM test host; returns (exit status, stdout and stderr as one text).

    The exit status is the command's own, or L1_TIMED_OUT when the watchdog stopped the L1
    after `timeout` seconds, or L1_FAILED when the L1 itself failed (the text then has a line
    starting "run-in-l1: " saying why). `env` adds variables to those carried over;
    `force_l1` uses the L1 even where this host's KVM could run the command directly."""
    cmd: list[str] = [str(RUN_IN_L1), "--timeout", str(max(1, int(timeout)))]
    if mem_mib:
        cmd += ["--mem", str(mem_mib)]
    if cpus:
        cmd += ["--cpus", str(cpus)]
    if force_l1:
        cmd.append("--force-l1")
    for share in shares:
        cmd += ["--share", str(share)]
    for name, value in (env or {}).items():
        cmd += ["--env", f"{name}={value}"]
    cmd.append("--")
    cmd += [str(a) for a in argv]
    # The watchdog inside run-in-l1.sh ends the L1; this only guards against run-in-l1.sh
    # itself hanging (building the L1 kernel on a first run takes minutes more).
    backstop = timeout + 1800
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=backstop)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")
