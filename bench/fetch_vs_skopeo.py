#!/usr/bin/env python3
"""`rkt fetch docker://` of a ~100 MB multi-layer image from Debian's docker-registry on
loopback, against `skopeo copy` of the same image into an OCI layout. Each run starts from an
empty store / layout. Prints the medians and their ratio (rkt / skopeo; lower is better)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib

op = benchlib.oci_pack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--mib", type=int, default=100, help="total image size in MiB")
    args = ap.parse_args()

    rkt = benchlib.build_dir() / "bin" / "rkt"
    benchlib.require(rkt.exists(), f"rkt not built in {benchlib.build_dir()}")
    for tool, pkg in (("docker-registry", "docker-registry"), ("skopeo", "skopeo")):
        benchlib.require(shutil.which(tool) is not None, f"{tool} not installed (Debian package {pkg})")

    with tempfile.TemporaryDirectory(prefix="rkt-bench-fetch-") as tmp:
        tmp = Path(tmp)
        port = free_port()
        config = {"version": 0.1, "log": {"level": "error"},
                  "storage": {"filesystem": {"rootdirectory": str(tmp / "storage")}},
                  "http": {"addr": f"127.0.0.1:{port}", "secret": "bench"}}
        (tmp / "config.yml").write_text(json.dumps(config))
        registry = subprocess.Popen(["docker-registry", "serve", str(tmp / "config.yml")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("docker-registry did not start")
                    time.sleep(0.05)

            # Incompressible layers, gzip as registries serve them.
            per_layer = (args.mib << 20) // args.layers
            layers = [[op.File(f"data{i}", os.urandom(per_layer))] for i in range(args.layers)]
            layout = op.write_layout(tmp / "layout", op.Image(layers=layers, cmd=["/data0"]), tag="v1")
            ref = f"127.0.0.1:{port}/bench/big:v1"
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                            f"oci:{tmp / 'layout'}:v1", f"docker://{ref}"], check=True)
            size = sum(l.size for l in layout.image.layers)
            print(f"image: {args.layers} layers, {size / 1e6:.1f} MB compressed")

            def fresh(path: Path):
                return lambda: shutil.rmtree(path, ignore_errors=True)

            rkt_dir = tmp / "rkt-data"
            ours = benchlib.time_command(
                [str(rkt), f"--dir={rkt_dir}", f"--local-config={tmp / 'etc'}",
                 "--insecure-options=http,image", "fetch", f"docker://{ref}"],
                args.runs, setup=fresh(rkt_dir))
            oci_dir = tmp / "skopeo-layout"
            peer = benchlib.time_command(
                ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                 f"oci:{oci_dir}:v1"], args.runs, setup=fresh(oci_dir))
            benchlib.report(f"fetch of a {size / 1e6:.0f} MB {args.layers}-layer image over loopback",
                            ours, "skopeo copy", peer)
        finally:
            registry.kill()
            registry.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
