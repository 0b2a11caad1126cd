"""Shared helpers of the benchmarks: timing commands, medians, ratio lines, test images.

Every benchmark runs the project and its peer in the same invocation and prints
`<what>: rkt <median> vs <peer> <median> -> ratio <rkt/peer>` lines; lower ratios are better
for rkt. Absolute figures depend on the machine; ratios measured side by side are the result.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import images  # noqa: E402  (tests/fixtures)
import oci_pack  # noqa: E402


def build_dir() -> Path:
    return Path(os.environ.get("RKT_BUILD_DIR", REPO / "build"))


def time_command(argv, runs: int, setup=None, check=True, **kw) -> list[float]:
    """Wall-clock seconds of `argv`, `runs` times (after one untimed warm-up run)."""
    samples = []
    for i in range(runs + 1):
        if setup:
            setup()
        start = time.perf_counter()
        res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        elapsed = time.perf_counter() - start
        if check and res.returncode != 0:
            raise SystemExit(f"benchmark command failed ({res.returncode}): {' '.join(map(str, argv))}\n"
                             f"{res.stderr.decode(errors='replace')}")
        if i > 0:
            samples.append(elapsed)
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def report(what: str, ours: list[float], peer_name: str, peer: list[float]) -> float:
    a, b = median_ms(ours), median_ms(peer)
    ratio = a / b if b else float("inf")
    print(f"{what}: rkt {a:.1f} ms vs {peer_name} {b:.1f} ms (medians of {len(ours)}) "
          f"-> ratio {ratio:.2f}")
    return ratio


def cached_pod_base(rkt: Path, image, tmp: Path) -> tuple[list[str], Path]:
    """Writes `image` (an oci_pack.Image) as an OCI layout under `tmp`, imports it into a fresh
    store there, and returns the `rkt` argv prefix for that store and the layout's path. The
    store's data directory is tmp/data."""
    layout = tmp / "image"
    oci_pack.write_layout(layout, image)
    base = [str(rkt), f"--dir={tmp / 'data'}", f"--local-config={tmp / 'etc'}",
            "--insecure-options=image"]
    subprocess.run(base + ["fetch", str(layout)], check=True, stdout=subprocess.DEVNULL)
    return base, layout


def cached_inspect_pod_base(rkt: Path, inspect: Path, tmp: Path) -> tuple[list[str], Path]:
    """cached_pod_base of the `inspect` fixture's image."""
    return cached_pod_base(rkt, images.inspect_image(inspect), tmp)


def require(cond: bool, reason: str) -> None:
    if not cond:
        print(f"skipped: {reason}")
        raise SystemExit(0)
