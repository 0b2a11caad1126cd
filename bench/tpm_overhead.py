#!/usr/bin/env python3
"""What a measured launch adds (docs/tpm.md): `rkt --tpm=required run` against a real TPM
(Debian's swtpm on loopback, its socket TCTI) against `rkt --tpm=off run` of the same cached
image, interleaved, for the fly and kvm stage1s. Prints the medians and their ratio, one line per
stage1; the ratio is measured/unmeasured, so 1.00 means the measurement costs nothing.

    python3 bench/tpm_overhead.py [--runs 10] [--stage1 fly] [--stage1 kvm]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests" / "e2e"))
from tpm_harness import Swtpm  # noqa: E402  (tests/e2e: swtpm on loopback)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--stage1", action="append", choices=["fly", "kvm"],
                    help="stage1(s) to measure (default: fly and kvm)")
    args = ap.parse_args()

    build = benchlib.build_dir()
    rkt = build / "bin" / "rkt"
    inspect = build / "tests" / "fixtures" / "inspect"
    benchlib.require(rkt.exists() and inspect.exists(), f"rkt or inspect not built in {build}")
    benchlib.require(shutil.which("swtpm") is not None, "swtpm not installed (Debian package swtpm)")

    with tempfile.TemporaryDirectory(prefix="rkt-bench-") as tmp:
        tmp = Path(tmp)
        base, layout = benchlib.cached_inspect_pod_base(rkt, inspect, tmp)
        with Swtpm(tmp) as tpm:
            for stage1 in args.stage1 or ["fly", "kvm"]:
                if not (build / "lib" / "rkt" / "stage1" / stage1 / "run").exists():
                    print(f"{stage1}: skipped, stage1 not built")
                    continue
                # The kvm stage1's default engine: the built-in VMM where KVM runs Linux, else
                # QEMU; the same for both sides.
                net = ["--net=none"] if stage1 == "kvm" else []
                run = ["run", f"--stage1={stage1}", *net, str(layout)]
                on = base + ["--tpm=required", f"--tpm-tcti={tpm.tcti}"] + run
                off = base + ["--tpm=off"] + run
                measured, plain = [], []
                for i in range(args.runs):
                    pair = [(on, measured), (off, plain)]
                    for argv, samples in (pair if i % 2 else reversed(pair)):
                        samples += benchlib.time_command(argv, 1)
                benchlib.report(f"pod start to exit, measured vs not ({stage1})", measured,
                                "--tpm=off", plain)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
