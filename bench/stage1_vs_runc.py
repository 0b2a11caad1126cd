#!/usr/bin/env python3
"""`rkt run --stage1=fly|nspawn` of a cached image whose app exits at once, against `runc run` of
the same root filesystem. Prints the medians and their ratio, one line per stage1. nspawn pods
run with `--net=none` (a network namespace with loopback only, as runc's `runc spec` gives);
bench/net_start_vs_podman.py measures a start with a network.

Each timed run follows an untimed run of the same command (benchlib.time_command), so each side
pays for the deferred kernel work (namespaces freed, cgroups) of its own previous run, not the
other's. `runc run` deletes its container before it returns; an exited rkt pod stays until
`rkt gc`, as in rkt: the bench times that gc too, per pod, and prints it apart."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--stage1", action="append", choices=["fly", "nspawn"],
                    help="stage1(s) to measure (default: fly and nspawn)")
    args = ap.parse_args()

    build = benchlib.build_dir()
    rkt = build / "bin" / "rkt"
    inspect = build / "tests" / "fixtures" / "inspect"
    benchlib.require(rkt.exists() and inspect.exists(), f"rkt or inspect not built in {build}")
    benchlib.require(shutil.which("runc") is not None, "runc not installed (Debian package runc)")

    with tempfile.TemporaryDirectory(prefix="rkt-bench-") as tmp:
        tmp = Path(tmp)
        base, layout = benchlib.cached_inspect_pod_base(rkt, inspect, tmp)

        # The same root filesystem for runc: the image's rendered tree.
        bundle = tmp / "bundle"
        (bundle / "rootfs").mkdir(parents=True)
        shutil.copy2(inspect, bundle / "rootfs" / "inspect")
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["/inspect"]
        spec["root"]["readonly"] = False
        (bundle / "config.json").write_text(json.dumps(spec))

        runc = ["runc", "--root", str(tmp / "runc-state"), "run", "-b", str(bundle), "bench"]
        gc = base + ["gc", "--grace-period=0s"]
        for stage1 in args.stage1 or ["fly", "nspawn"]:
            if not (build / "lib" / "rkt" / "stage1" / stage1 / "run").exists():
                print(f"{stage1}: skipped, stage1 not built")
                continue
            # nspawn without a network, as runc's (a namespace with loopback only); fly has
            # only the host's.
            net = ["--net=none"] if stage1 == "nspawn" else []
            run = base + ["run", f"--stage1={stage1}", *net, str(layout)]
            # Interleave the two so that load from elsewhere hits both alike; alternate which
            # goes first.
            rkt_samples, runc_samples = [], []
            for i in range(args.runs):
                if i % 2:
                    runc_samples += benchlib.time_command(runc, 1)
                    rkt_samples += benchlib.time_command(run, 1)
                else:
                    rkt_samples += benchlib.time_command(run, 1)
                    runc_samples += benchlib.time_command(runc, 1)
            benchlib.report(f"pod start to exit, app exits at once ({stage1} vs runc)", rkt_samples,
                            "runc", runc_samples)
            pods = 2 * args.runs  # each sample follows an untimed run
            start = time.perf_counter()
            subprocess.run(gc, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            gc_time = time.perf_counter() - start
            print(f"  then rkt gc of the {pods} exited {stage1} pods: {gc_time * 1000:.0f} ms, "
                  f"{gc_time * 1000 / pods:.1f} ms per pod (not in the figures above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
