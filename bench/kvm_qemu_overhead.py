#!/usr/bin/env python3
"""The kvm stage1's own cost on the QEMU engine: `rkt run --stage1=kvm-qemu` of a cached image
whose app exits at once, against a bare `qemu-system-x86_64 -M microvm` boot of the same guest
kernel, with the same machine options, to a trivial init that powers off at once. The ratio is
what the runtime adds (stage0, the pod directory, the stage1, the initramfs with guest-init, the
app's disk and overlay, the guest protocol); the pod has no network (`--net=none`: no NIC, as
the bare boot). Also prints boot-to-init as each guest sees it:
guest-init's Ready (its CLOCK_MONOTONIC, rkt --debug prints it) and the trivial init's clock.

    python3 bench/kvm_qemu_overhead.py [--runs 10]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests" / "guest"))
import guest_vm  # noqa: E402  (tests/guest: the newc writer)

TRIVIAL_INIT = r"""
#include <stdio.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("init at %ld ms\n", ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    fflush(stdout);
    reboot(RB_AUTOBOOT);  /* reboot=t: a triple fault; -no-reboot makes QEMU exit */
    return 0;
}
"""

READY_RE = re.compile(r"guest-init ready (\d+) ms after the guest kernel started")
INIT_RE = re.compile(r"init at (\d+) ms")


def build_trivial_init(work: Path) -> Path:
    src = work / "init.c"
    src.write_text(TRIVIAL_INIT)
    out = work / "init"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(src)], check=True)
    return out


def bare_boot(qemu_args: list, initramfs: Path, kernel: Path, cmdline: str):
    """(seconds, guest ms to init) of one bare boot."""
    argv = ["qemu-system-x86_64", *qemu_args, "-serial", "stdio", "-kernel", str(kernel),
            "-initrd", str(initramfs), "-append", cmdline]
    start = time.perf_counter()
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=120)
    elapsed = time.perf_counter() - start
    m = INIT_RE.search(res.stdout)
    if res.returncode != 0 or not m:
        raise SystemExit(f"bare boot failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return elapsed, int(m.group(1))


def rkt_pod(base: list, layout: Path):
    """(seconds, guest ms to guest-init's Ready, stderr) of one pod."""
    start = time.perf_counter()
    res = subprocess.run(base + ["--debug", "run", "--stage1=kvm-qemu", "--net=none", str(layout)],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    m = READY_RE.search(res.stderr)
    if res.returncode != 0 or not m:
        raise SystemExit(f"rkt run failed ({res.returncode}):\n{res.stderr}")
    return elapsed, int(m.group(1)), res.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    build = benchlib.build_dir()
    rkt = build / "bin" / "rkt"
    inspect = build / "tests" / "fixtures" / "inspect"
    kvm = build / "lib" / "rkt" / "stage1" / "kvm"
    kernel = kvm / "bzImage"
    benchlib.require(rkt.exists() and inspect.exists(), f"rkt or inspect not built in {build}")
    benchlib.require(kernel.exists() and (kvm / "run").exists(),
                     f"the kvm stage1 or its guest kernel is not built in {kvm}")
    for cmd, package in (("qemu-system-x86_64", "qemu-system-x86"), ("gcc", "gcc"),
                         ("mkfs.erofs", "erofs-utils")):
        benchlib.require(shutil.which(cmd) is not None, f"{cmd} not installed ({package})")

    with tempfile.TemporaryDirectory(prefix="rkt-bench-kvm-") as tmp:
        tmp = Path(tmp)
        base, layout = benchlib.cached_inspect_pod_base(rkt, inspect, tmp)
        # The warm-up pod renders the erofs image, caches the initramfs and the engine's
        # accelerator choice; it also says which accelerator the stage1 uses.
        _, _, stderr = rkt_pod(base, layout)
        accel = "tcg" if "TCG" in stderr else "kvm"

        initramfs = guest_vm.write_initramfs(build_trivial_init(tmp), tmp / "trivial.cpio")
        # The QEMU engine's own machine (vmm/qemu/qemu_command.cpp): same memory, same options.
        qemu_args = ["-M", "microvm,acpi=off", "-accel", accel, "-cpu",
                     "max" if accel == "tcg" else "host", "-m", "128", "-smp", "1",
                     "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
                     "-monitor", "none"]
        cmdline = "console=ttyS0 reboot=t panic=-1 no_timer_check quiet" + \
                  (" noapictimer" if accel == "tcg" else "")
        bare_boot(qemu_args, initramfs, kernel, cmdline)  # warm-up

        rkt_times, rkt_ready, bare_times, bare_init = [], [], [], []
        for _ in range(args.runs):  # interleaved: load from elsewhere hits both alike
            t, ready, _ = rkt_pod(base, layout)
            rkt_times.append(t)
            rkt_ready.append(ready)
            t, init_ms = bare_boot(qemu_args, initramfs, kernel, cmdline)
            bare_times.append(t)
            bare_init.append(init_ms)

        benchlib.report(f"pod start to exit, app exits at once (kvm-qemu, {accel.upper()}) vs "
                        f"bare QEMU microvm boot to a trivial init", rkt_times, "qemu", bare_times)
        print(f"guest boot to init (guest clock, medians of {args.runs}): rkt pod "
              f"{statistics.median(rkt_ready):.0f} ms to guest-init's Ready, bare boot "
              f"{statistics.median(bare_init):.0f} ms to the trivial init")
        subprocess.run(base + ["gc", "--grace-period=0s"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
