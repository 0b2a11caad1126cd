#!/usr/bin/env python3
"""Where the time of `rkt run --stage1=fly|nspawn` goes: the phases of a run of a cached image
whose app exits at once, from strace timestamps of a few system calls, medians over the runs.

strace stops the traced processes at each traced call (execve, clone, exit_group, access only,
through a seccomp filter), which adds some 0.1-0.3 ms per phase: the phases add up to more than
bench/stage1_vs_runc.py's untraced figures; their shares are what this is for.
Usage: stage1_phases.py [--runs N] [--stage1 fly|nspawn] [--rkt PATH/TO/rkt]"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import benchlib

PHASES = {
    "fly": [
        ("rkt start-up: exec, flags, stage1 selected", "stage1"),
        ("stage0: image store, pod directory, exec stage1", "exec_stage1"),
        ("stage1 run: start-up, pod manifest, fork", "fork_app"),
        ("app: mount namespace, overlay, binds, chroot, exec", "exec_app"),
        ("app runs (/inspect, no flags)", "app_exit"),
        ("exit: reap, status file, run exits", "end"),
    ],
    "nspawn": [
        ("rkt start-up: exec, flags, stage1 selected", "stage1"),
        ("stage0: image store, pod directory, exec stage1", "exec_stage1"),
        ("stage1 run: start-up, checks, isolation, /etc, cgroups", "fork_init"),
        ("pod init: PID, UTS, IPC, net namespaces; fork app", "fork_app"),
        ("app: cgroups, mount ns, root, masks, privileges, exec", "exec_app"),
        ("app runs (/inspect, no flags)", "app_exit"),
        ("exit: reap, status file, pod init and run exit", "end"),
    ],
}

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")


def marks(trace: str, stage1: str) -> dict[str, float]:
    """Phase boundaries (ms after rkt's execve) from one strace -f -ttt output."""
    lines = []
    for raw in trace.splitlines():
        m = LINE.match(raw)
        if m:
            lines.append((int(m.group(1)), float(m.group(2)) * 1000, m.group(3)))
    t0 = lines[0][1]
    rkt_pid = lines[0][0]
    out: dict[str, float] = {}
    execs = [(pid, t, s) for pid, t, s in lines if s.startswith("execve(") and "= 0" in s]
    for pid, t, s in lines:
        if "stage1" not in out and s.startswith("access(") and "/stage1/" in s:
            out["stage1"] = t - t0
    out["exec_stage1"] = execs[1][1] - t0
    app_pid, app_exec, _ = execs[-1]
    out["exec_app"] = app_exec - t0
    clones = [(pid, t, s) for pid, t, s in lines if s.startswith("clone(")]
    if stage1 == "nspawn":
        # run forks the pod init right after unshare(CLONE_NEWPID); the pod init forks the app.
        unshare = next(t for pid, t, s in lines if s.startswith("unshare(CLONE_NEWPID"))
        out["fork_init"] = next(t for pid, t, s in clones if pid == rkt_pid and t >= unshare) - t0
        init_pid = next(pid for pid, t, s in lines
                        if s.startswith("unshare(") and "CLONE_NEWUTS" in s)
        out["fork_app"] = next(t for pid, t, s in clones if pid == init_pid) - t0
    else:
        out["fork_app"] = next(t for pid, t, s in clones if pid == rkt_pid) - t0
    out["app_exit"] = next(t for pid, t, s in lines
                           if pid == app_pid and s.startswith("exit_group(")) - t0
    out["end"] = next(t for pid, t, s in lines
                      if pid == rkt_pid and s.startswith("+++ exited")) - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--stage1", action="append", choices=["fly", "nspawn"])
    ap.add_argument("--rkt", type=Path, help="rkt binary (default: the build's)")
    args = ap.parse_args()

    build = benchlib.build_dir()
    rkt = args.rkt or build / "bin" / "rkt"
    inspect = build / "tests" / "fixtures" / "inspect"
    benchlib.require(rkt.exists() and inspect.exists(), f"rkt or inspect not built in {build}")
    benchlib.require(shutil.which("strace") is not None, "strace not installed")

    with tempfile.TemporaryDirectory(prefix="rkt-phases-") as tmp:
        tmp = Path(tmp)
        base, layout = benchlib.cached_inspect_pod_base(rkt, inspect, tmp)
        for stage1 in args.stage1 or ["fly", "nspawn"]:
            # nspawn without a network, as runc's (a namespace with loopback only); fly has
            # only the host's.
            net = ["--net=none"] if stage1 == "nspawn" else []
            run = base + ["run", f"--stage1={stage1}", *net, str(layout)]
            samples: list[dict[str, float]] = []
            for i in range(args.runs + 1):
                out = tmp / "trace"
                subprocess.run(["strace", "-f", "--seccomp-bpf", "-ttt", "-o", str(out),
                                "-e", "trace=execve,clone,exit_group,access,unshare",
                                "-e", "signal=none"] + run,
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if i:  # the first run warms up
                    samples.append(marks(out.read_text(), stage1))
            print(f"{stage1} ({rkt}, medians of {args.runs}, traced):")
            prev = None
            for name, key in PHASES[stage1]:
                spans = [s[key] - (s[prev] if prev else 0.0) for s in samples]
                print(f"  {name:58} {statistics.median(spans):6.2f} ms")
                prev = key
            print(f"  {'total':58} {statistics.median(s['end'] for s in samples):6.2f} ms")
        subprocess.run(base + ["gc", "--grace-period=0s"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
