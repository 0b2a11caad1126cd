#!/usr/bin/env python3
"""`rkt run --stage1=fly|nspawn` of a cached image whose app exits at once, against `runc run` of
the same root filesystem. Prints the medians and their ratio, one line per stage1."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
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
        layout = tmp / "image"
        benchlib.oci_pack.write_layout(layout, benchlib.images.inspect_image(inspect))
        data = tmp / "data"
        base = [str(rkt), f"--dir={data}", f"--local-config={tmp / 'etc'}", "--insecure-options=image"]
        subprocess.run(base + ["fetch", str(layout)], check=True, stdout=subprocess.DEVNULL)

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

        for stage1 in args.stage1 or ["fly", "nspawn"]:
            if not (build / "lib" / "rkt" / "stage1" / stage1 / "run").exists():
                print(f"{stage1}: skipped, stage1 not built")
                continue
            # Interleave the two so that load from elsewhere hits both alike.
            rkt_samples, runc_samples = [], []
            for _ in range(args.runs):
                rkt_samples += benchlib.time_command(
                    base + ["run", f"--stage1={stage1}", str(layout)], 1)
                runc_samples += benchlib.time_command(
                    ["runc", "--root", str(tmp / "runc-state"), "run", "-b", str(bundle), "bench"], 1)
            benchlib.report(f"pod start to exit, app exits at once ({stage1} vs runc)", rkt_samples,
                            "runc", runc_samples)
        subprocess.run(base + ["gc", "--grace-period=0s"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
