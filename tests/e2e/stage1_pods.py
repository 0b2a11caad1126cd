"""Running pods through a given stage1 in end-to-end tests: which stage1s there are, what each
needs on this machine (a one-line skip reason otherwise), and the helpers the scenario tests
share (run a pod, spawn one in the background, wait until it runs, read inspect's lines).

    from stage1_pods import STAGE1S, run, line

    @pytest.fixture(params=["nspawn", "kvm-qemu"])
    def stage1(request, build_dir):
        s = STAGE1S[request.param]
        s.require(build_dir)
        return s

    def test_exit(rkt, stage1, inspect_image):
        res, uuid = run(rkt, stage1, inspect_image, "--exit-code=3")
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path
from typing import Optional

from harness import have_command, require, require_root, require_stage1, stage1_dir

__all__ = ["Stage1", "STAGE1S", "kvm_unavailable_reason", "require_kvm_stage1",
           "builtin_engine_probe", "run", "line",
           "spawn_pod", "remove_pods", "qemu_processes_under"]


def kvm_unavailable_reason(build_dir: Path) -> Optional[str]:
    """Why a kvm pod cannot run here (one line), or None."""
    if os.geteuid() != 0:
        return "needs root"
    kvm = stage1_dir(build_dir, "kvm")
    if not os.access(kvm / "run", os.X_OK):
        return f"stage1 kvm not built: {kvm}/run is missing"
    if not (kvm / "bzImage").exists():
        return f"guest kernel not built: {kvm}/bzImage is missing (target guest-kernel)"
    if not (kvm / "guest-init").exists():
        return f"guest-init not built: {kvm}/guest-init is missing (target guest-init)"
    for cmd, package in (("qemu-system-x86_64", "qemu-system-x86"), ("mkfs.erofs", "erofs-utils")):
        if not have_command(cmd):
            return f"{cmd} not found (Debian package {package})"
    return None


def require_kvm_stage1(build_dir: Path) -> None:
    reason = kvm_unavailable_reason(build_dir)
    require(reason is None, reason or "")


def builtin_engine_probe(build_dir: Path) -> tuple:
    """(usable, reason) from the built-in VMM's own probe (`rkt-vmm --probe`); usable is None
    when rkt-vmm is not built."""
    vmm = build_dir / "bin" / "rkt-vmm"
    if not os.access(vmm, os.X_OK):
        return None, f"rkt-vmm not built ({vmm})"
    res = subprocess.run([str(vmm), "--probe"], capture_output=True, text=True, timeout=60)
    return res.returncode == 0, res.stdout.strip()


@dataclasses.dataclass(frozen=True)
class Stage1:
    name: str                   # as tests are named: nspawn, kvm-qemu, kvm-builtin
    flag: str                   # how rkt run selects it
    vm: bool                    # the pod runs in a VM (a guest kernel of its own)
    builtin_vmm: bool = False   # the VM is the built-in VMM's (needs KVM that runs Linux)
    host_volumes: bool = True   # kind=host volumes work

    def require(self, build_dir: Path) -> None:
        """Skips the calling test, with the reason, when this stage1 cannot run pods here."""
        if self.vm:
            require_kvm_stage1(build_dir)
        else:
            require_root()
            require_stage1(build_dir, self.name)
        if self.builtin_vmm:
            usable, reason = builtin_engine_probe(build_dir)
            require(usable, f"the built-in VMM cannot run here ({reason}); these cases run "
                            "inside the KVM test host (test_kvm_builtin.py)")


STAGE1S = {
    "nspawn": Stage1("nspawn", "--stage1-name=nspawn", False),
    "kvm-qemu": Stage1("kvm-qemu", "--stage1=kvm-qemu", True),
    # No virtio-9p in the built-in VMM yet (docs/kvm-stage1.md).
    "kvm-builtin": Stage1("kvm-builtin", "--stage1=kvm-builtin", True, builtin_vmm=True,
                          host_volumes=False),
}


def run(rkt, stage1: Stage1, image, *args, flags=(), **run_args):
    """`rkt run STAGE1 FLAGS IMAGE -- ARGS` -> (Result, uuid)."""
    return rkt.run_pod(stage1.flag, *flags, image.arg, *(("--",) + args if args else ()),
                       **run_args)


def line(out: str, prefix: str) -> str:
    """The rest of the first line of `out` that starts with `prefix`."""
    for text in out.splitlines():
        if text.startswith(prefix):
            return text[len(prefix):].strip()
    raise AssertionError(f"no line starting with {prefix!r} in:\n{out}")


def spawn_pod(rkt, stage1: Stage1, image, *args, flags=(), timeout: float = 120):
    """Starts `rkt run` in the background and waits until the pod's apps run -> (Popen, uuid)."""
    return rkt.spawn_pod(stage1.flag, *flags, image.arg, *(("--",) + args if args else ()),
                         timeout=timeout)


def remove_pods(rkt) -> None:
    """`rkt rm` of every pod (stopping running ones first): the stage1's gc runs at once."""
    pods = rkt.data_dir / "pods"
    for d in (pods / "run").glob("*"):
        rkt.run("stop", "--force", d.name, timeout=60)
    for d in list(pods.glob("*/*")):
        deadline = time.monotonic() + 30
        while rkt.run("rm", d.name, timeout=60).code != 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # a stopped pod's run process may still hold its lock a moment


def qemu_processes_under(root: Path) -> list:
    """Pids of QEMU processes of pods below `root`: a jailed QEMU's only environment variable
    is RKT_POD_DIR, its pod directory (its working directory is its jail's root)."""
    found = []
    prefix = str(root.resolve()) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
            cwd = os.readlink(entry / "cwd")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if not os.path.basename(exe).startswith("qemu-system-"):
            continue
        pod_dirs = [e[len(b"RKT_POD_DIR="):].decode(errors="replace") for e in env
                    if e.startswith(b"RKT_POD_DIR=")]
        if any((d + "/").startswith(prefix) for d in pod_dirs + [cwd]):
            found.append(int(entry.name))
    return found
