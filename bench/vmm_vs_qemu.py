#!/usr/bin/env python3
"""The built-in VMM (`rkt-vmm`) against `qemu-system-x86_64 -M microvm,acpi=off -accel kvm
-cpu host`, booting the same guest kernel with the same tiny init, on real KVM: in the KVM test
host (tests/kvm-host/run-in-l1.sh) unless this host's KVM runs Linux guests itself.

For each VMM, runs interleaved in one L1, medians of --runs:
- set-up: process start to its first KVM_RUN (an LD_PRELOAD shim, vmm_vs_qemu.first_run.c,
  timestamps the first KVM_RUN ioctl of either process the same way);
- boot to init: process start to the init's line on the serial console (both VMMs put ttyS0 on
  stdout; the kernel runs with `quiet`);
- RSS without guest memory: the VMM's resident memory while the guest's init runs, less every
  mapping at least as large as guest RAM (/proc/PID/smaps).
Prints each as `rkt-vmm X vs qemu Y -> ratio rkt-vmm/qemu` (lower is better for rkt). Absolute
times are those of a nested VM under TCG; only the ratios carry over.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MARKER = b"rkt-bench: init reached"
FIRST_RUN = b"rkt-bench: first KVM_RUN at "
GUEST_MEM_MIB = 128


def build_dir() -> Path:
    return Path(os.environ.get("RKT_BUILD_DIR", REPO / "build"))


def skip(reason: str) -> None:
    print(f"skipped: {reason}")
    raise SystemExit(0)


def prepare(work: Path) -> None:
    """The shim and the guest's initramfs, built on the host (fast) for use inside the L1."""
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(work / "first_run.so"),
                    str(HERE / "vmm_vs_qemu.first_run.c"), "-ldl"], check=True)
    root = work / "initramfs"
    (root / "dev").mkdir(parents=True)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "init"),
                    str(HERE / "vmm_vs_qemu.init.c")], check=True)
    subprocess.run(["mknod", str(root / "dev" / "console"), "c", "5", "1"], check=True)
    with open(work / "initramfs.cpio", "wb") as out:
        subprocess.run("find . | cpio -o -H newc --quiet", shell=True, cwd=root, stdout=out,
                       check=True)


def rss_without_guest_kib(pid: int, guest_bytes: int) -> int:
    """Rss of every mapping of `pid` smaller than guest RAM, in KiB."""
    total = 0
    size = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                size = hi - lo
            elif first == "Rss:" and size < guest_bytes:
                total += int(line.split()[1])
    return total


def one_boot(argv: list[str], shim: Path, timeout: float = 120.0) -> dict:
    """Boots once; returns setup_ms, boot_ms, rss_kib."""
    env = dict(os.environ, LD_PRELOAD=str(shim))
    start = time.time()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out, err = b"", b""
    result: dict = {}
    deadline = time.monotonic() + timeout
    streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    try:
        while streams and time.monotonic() < deadline:
            ready, _, _ = select.select(list(streams), [], [], 1.0)
            now = time.time()
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    del streams[fd]
                    continue
                if streams[fd] == "out":
                    out += chunk
                    if "boot_ms" not in result and MARKER in out:
                        result["boot_ms"] = (now - start) * 1000
                        result["rss_kib"] = rss_without_guest_kib(proc.pid, GUEST_MEM_MIB << 20)
                else:
                    err += chunk
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for line in err.splitlines():
        if line.startswith(FIRST_RUN):
            result["setup_ms"] = (float(line[len(FIRST_RUN):]) - start) * 1000
            break
    missing = {"boot_ms", "setup_ms", "rss_kib"} - set(result)
    if missing or proc.returncode != 0:
        sys.stderr.write(out.decode(errors="replace")[-2000:] + err.decode(errors="replace")[-2000:])
        raise SystemExit(f"boot failed (exit {proc.returncode}, missing {sorted(missing)}): "
                         f"{' '.join(argv)}")
    return result


def line(what: str, unit: str, ours: list[float], theirs: list[float]) -> None:
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"{what}: rkt-vmm {a:.1f} {unit} vs qemu {b:.1f} {unit} (medians of {len(ours)}) "
          f"-> ratio {a / b:.2f}")


def measure_kernel(kernel: Path, vmm: Path, qemu: str, shim: Path, initrd: Path,
                   runs: int) -> None:
    ours_argv = [str(vmm), "--kernel", str(kernel), "--initrd", str(initrd), "--mem",
                 str(GUEST_MEM_MIB), "--serial", "--cmdline", "quiet", "--timeout-ms", "120000"]
    qemu_argv = [qemu, "-M", "microvm,acpi=off", "-accel", "kvm", "-cpu", "host",
                 "-m", str(GUEST_MEM_MIB), "-smp", "1", "-nodefaults", "-no-user-config",
                 "-no-reboot", "-display", "none", "-serial", "stdio",
                 "-kernel", str(kernel), "-initrd", str(initrd),
                 "-append", "console=ttyS0 quiet panic=-1"]
    print(f"kernel: {kernel.name} ({kernel.stat().st_size} bytes), guest RAM {GUEST_MEM_MIB} MiB, "
          f"{runs} runs each, interleaved after one warm-up each")
    samples: dict[str, dict[str, list[float]]] = {"rkt": {}, "qemu": {}}
    one_boot(ours_argv, shim)
    one_boot(qemu_argv, shim)
    for _ in range(runs):
        for name, argv in (("rkt", ours_argv), ("qemu", qemu_argv)):
            for key, value in one_boot(argv, shim).items():
                samples[name].setdefault(key, []).append(value)
    r, q = samples["rkt"], samples["qemu"]
    tag = f" [{kernel.name}]"
    line("VMM set-up (process start to first KVM_RUN)" + tag, "ms", r["setup_ms"], q["setup_ms"])
    line("boot to init (process start to init's console line)" + tag, "ms", r["boot_ms"],
         q["boot_ms"])
    line("VMM RSS without guest memory" + tag, "KiB", r["rss_kib"], q["rss_kib"])


def measure(args, work: Path) -> int:
    build = build_dir()
    vmm = build / "bin" / "rkt-vmm"
    guest = build / "lib" / "rkt" / "stage1" / "kvm"
    qemu = shutil.which("qemu-system-x86_64")
    shim, initrd = work / "first_run.so", work / "initramfs.cpio"
    kernels = ["vmlinux", "bzImage"] if args.kernel == "both" else [args.kernel]
    for path in [vmm, shim, initrd] + [guest / k for k in kernels]:
        if not path.exists():
            skip(f"{path} is missing")
    if not qemu:
        skip("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
    probe = subprocess.run([str(vmm), "--probe"], capture_output=True, text=True)
    print(f"probe: {probe.stdout.strip()}")
    if probe.returncode != 0:
        raise SystemExit("KVM here cannot run Linux guests")
    # The guest's files in memory (in the L1: its own tmpfs), so that neither VMM's figures
    # include reading them over the L1's 9p root.
    with tempfile.TemporaryDirectory(prefix="rkt-bench-guest-", dir="/dev/shm") as tmp:
        local = Path(tmp)
        shutil.copy(initrd, local / "initramfs.cpio")
        for k in kernels:
            shutil.copy(guest / k, local / k)
        for k in kernels:
            measure_kernel(local / k, vmm, qemu, shim, local / "initramfs.cpio", args.runs)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kernel", choices=["vmlinux", "bzImage", "both"], default="both",
                    help="which form of the guest kernel both VMMs boot (QEMU enters a vmlinux "
                         "through PVH, rkt-vmm through its 64-bit entry; default: both, in turn)")
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)  # set when re-run in the L1
    args = ap.parse_args()

    if args.work:
        return measure(args, args.work)
    if os.geteuid() != 0:
        skip("needs root (KVM, and a device node in the guest's initramfs)")
    for cmd, pkg in (("gcc", "gcc"), ("cpio", "cpio")):
        if not shutil.which(cmd):
            skip(f"{cmd} not installed (Debian package {pkg})")
    with tempfile.TemporaryDirectory(prefix="rkt-bench-vmm-") as tmp:
        work = Path(tmp)
        prepare(work)
        inner = [sys.executable, str(Path(__file__).resolve()), "--runs", str(args.runs),
                 "--kernel", args.kernel, "--work", str(work)]
        # run-in-l1.sh runs it directly when this host's KVM can; otherwise in the L1.
        timeout = 300 + 120 * args.runs
        return subprocess.run([str(REPO / "tests" / "kvm-host" / "run-in-l1.sh"),
                               "--timeout", str(timeout), "--share", str(work), "--timings",
                               "--", *inner]).returncode


if __name__ == "__main__":
    sys.exit(main())
