#!/usr/bin/env python3
"""Host <-> pod TCP over rkt's `default` network (ptp, 172.16.28.0/24): throughput both ways and
round-trip latency, for an nspawn pod and a kvm-qemu pod, each against the host's own loopback
(127.0.0.1) measured in the same run with the same client and the same servers.

    python3 bench/network_throughput.py [--runs 3] [--mib 256] [--pings 1000]
                                        [--stage1 nspawn --stage1 kvm-qemu --stage1 kvm-builtin]

The servers are busybox's (Debian's busybox-static, the busybox test image of
tests/fixtures/images.py): `nc -ll -e` a sink (`dd of=/dev/null bs=1M`), a source
(`dd if=/dev/zero bs=1M count=MIB`) and an echo (`cat`), one port each. In the pod they are the
app; for the loopback they run on the host from the same script with the host's busybox. The
client is this script, on the host, to the pod's address from net-info.json or to 127.0.0.1:

- host->pod: connect, send MIB MiB in 1 MiB writes, shut the write side, wait for the server to
  close (its dd read everything): that time, and MiB/s.
- pod->host: connect, read MIB MiB to EOF: that time, and MiB/s.
- round trip: one connection, TCP_NODELAY, PINGS 1-byte writes each waiting for its echo; the
  median of all of them.

Each run measures the pod and the loopback in turn (alternating which goes first); lines are
`<what>: rkt <median> vs loopback <median> -> ratio <rkt/loopback>` (times, so lower is better).
The absolute loopback figures are bounded by the Python client and busybox's copy loops, the
same on both sides: the ratios are the result.

kvm-builtin against kvm-qemu, both with `-accel kvm`, is meant for the KVM test host (an L1 VM
with real KVM, docs/kvm-test-host.md; the kvm stage1's QEMU engine picks -accel kvm where KVM
runs Linux); both pods run side by side, and the ratio is builtin/qemu:

    RKT_BUILD_DIR=$PWD/build tests/kvm-host/run-in-l1.sh --timeout 1200 -- \\
        /usr/bin/python3 bench/network_throughput.py --builtin-vs-qemu [--mib 64 --pings 500]

(run-in-l1.sh runs it directly where this host's KVM already runs Linux.)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib

CHUNK = 1 << 20

SERVERS = """\
b={busybox}
$b nc -ll -p {sink} -e $b dd of=/dev/null bs=1M 2>/dev/null &
$b nc -ll -p {source} -e $b dd if=/dev/zero bs=1M count={mib} 2>/dev/null &
$b nc -ll -p {echo} -e $b cat &
wait
"""


def free_ports() -> dict:
    """Three ports free on the host now: the sink's, the source's, the echo's."""
    socks = [socket.socket() for _ in range(3)]
    try:
        for s in socks:
            s.bind(("", 0))
        return dict(zip(("sink", "source", "echo"), (s.getsockname()[1] for s in socks)))
    finally:
        for s in socks:
            s.close()


class Target:
    """Somewhere the three servers listen: `host`, the ports, how to end it."""

    def __init__(self, name: str, host: str, ports: dict, stop):
        self.name, self.host, self.ports, self._stop = name, host, ports, stop

    def stop(self) -> None:
        self._stop()

    def connect(self, port: str, timeout: float = 300) -> socket.socket:
        return socket.create_connection((self.host, self.ports[port]), timeout=timeout)

    def ready(self) -> bool:
        try:
            with self.connect("echo", timeout=2) as s:
                s.sendall(b"?")
                return s.recv(1) == b"?"
        except OSError:
            return False

    def upload(self, nbytes: int) -> float:
        buf = bytes(CHUNK)
        with self.connect("sink") as s:
            start = time.perf_counter()
            for _ in range(nbytes // CHUNK):
                s.sendall(buf)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
            return time.perf_counter() - start

    def download(self, nbytes: int) -> float:
        buf = bytearray(CHUNK)
        got = 0
        with self.connect("source") as s:
            start = time.perf_counter()
            while n := s.recv_into(buf):
                got += n
            elapsed = time.perf_counter() - start
        if got != nbytes:
            raise SystemExit(f"{self.name}: read {got} bytes from the source, not {nbytes}")
        return elapsed

    def round_trips(self, pings: int) -> list[float]:
        samples = []
        with self.connect("echo") as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(pings + 20):  # the first 20 warm up
                start = time.perf_counter()
                s.sendall(b"x")
                if s.recv(1) != b"x":
                    raise SystemExit(f"{self.name}: the echo server did not echo")
                if i >= 20:
                    samples.append(time.perf_counter() - start)
        return samples


def wait_ready(target: Target, timeout: float, alive=lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while not target.ready():
        if not alive():
            raise RuntimeError(f"{target.name} ended before its servers listened")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name}: servers not reachable within {timeout:.0f} s")
        time.sleep(0.2)


def loopback(busybox: str, ports: dict, mib: int) -> Target:
    script = SERVERS.format(busybox=busybox, mib=mib, **ports)
    proc = subprocess.Popen([busybox, "sh", "-c", script], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def stop():
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group this script started
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    target = Target("loopback", "127.0.0.1", ports, stop)
    try:
        wait_ready(target, 10, lambda: proc.poll() is None)
    except BaseException:
        stop()
        raise
    return target


def pod(base: list, data: Path, layout: Path, stage1: str, ports: dict, mib: int,
        work: Path) -> Target:
    """A running pod of `stage1` on --net=default with the servers as its app."""
    script = SERVERS.format(busybox="/bin/busybox", mib=mib, **ports)
    uuid_file = work / f"uuid-{stage1}"
    log = open(work / f"pod-{stage1}.log", "w+")
    debug = ["--debug"] if stage1 == "kvm-qemu" else []  # for the engine's TCG notice
    argv = base + debug + ["run", f"--uuid-file-save={uuid_file}", f"--stage1={stage1}",
                           "--net=default", str(layout), "--exec=/bin/sh", "--", "-c", script]
    proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    uuid = ""

    def stop():
        if uuid:
            subprocess.run(base + ["stop", "--force", uuid], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the rkt run this script started
            proc.wait()
        log.close()

    def why(text: str) -> str:
        log.flush()
        log.seek(0)
        tail = log.read()[-1500:].strip()
        return f"{stage1} pod: {text}" + (f"\n{tail}" if tail else "")

    try:
        deadline = time.monotonic() + 120
        ip = None
        while ip is None:
            if proc.poll() is not None:
                raise RuntimeError(why(f"rkt run ended ({proc.returncode})"))
            if time.monotonic() > deadline:
                raise RuntimeError(why("no net-info.json with an address within 120 s"))
            if not uuid and uuid_file.exists():
                uuid = uuid_file.read_text().strip()
            info = data / "pods" / "run" / uuid / "net-info.json" if uuid else None
            if info and info.exists():
                try:
                    nets = json.loads(info.read_text())
                    ip = next(n["ip"].split("/")[0] for n in nets if n.get("ip"))
                except (ValueError, StopIteration, KeyError, TypeError):
                    pass  # still being written
            time.sleep(0.1)
        target = Target(stage1, ip, ports, stop)
        wait_ready(target, 180, lambda: proc.poll() is None)
        if stage1 == "kvm-qemu":
            log.flush()
            log.seek(0)
            target.name += " (TCG)" if "TCG" in log.read() else " (KVM)"
        return target
    except BaseException:
        stop()
        raise


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def measure(a: Target, b: Target, args) -> None:
    """Interleaved runs of `a` and `b`; prints ratio lines a/b."""
    nbytes = args.mib * CHUNK
    up = {a: [], b: []}
    down = {a: [], b: []}
    rtt = {a: [], b: []}
    for i in range(args.runs):
        for t in ((a, b) if i % 2 == 0 else (b, a)):
            up[t].append(t.upload(nbytes))
            down[t].append(t.download(nbytes))
            rtt[t] += t.round_trips(args.pings)
    pair = f"{a.name} vs {b.name}"
    for what, samples, direction in (("host->pod", up, "sent"), ("pod->host", down, "read")):
        ma, mb = statistics.median(samples[a]), statistics.median(samples[b])
        print(f"{what} TCP stream, {args.mib} MiB {direction} by the host ({pair}): "
              f"rkt {ms(ma)} ({args.mib / ma:.0f} MiB/s) vs {b.name} {ms(mb)} "
              f"({args.mib / mb:.0f} MiB/s) (medians of {args.runs}) -> ratio {ma / mb:.2f}")
    ma, mb = statistics.median(rtt[a]), statistics.median(rtt[b])
    print(f"TCP round trip, 1-byte ping-pong on one connection ({pair}): rkt {ma * 1e6:.1f} us "
          f"vs {b.name} {mb * 1e6:.1f} us (medians of {len(rtt[a])}) -> ratio {ma / mb:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=256, help="MiB streamed each way per run")
    ap.add_argument("--pings", type=int, default=1000, help="round trips per run")
    ap.add_argument("--stage1", action="append",
                    choices=["nspawn", "kvm-qemu", "kvm-builtin"],
                    help="stage1(s) to measure against the loopback (default: nspawn, kvm-qemu)")
    ap.add_argument("--builtin-vs-qemu", action="store_true",
                    help="kvm-builtin against kvm-qemu instead (meant for the KVM test host)")
    args = ap.parse_args()

    build = benchlib.build_dir()
    rkt = build / "bin" / "rkt"
    benchlib.require(rkt.exists(), f"rkt not built in {build}")
    busybox = benchlib.images.find_busybox()
    benchlib.require(busybox is not None and benchlib.images.busybox_is_static(busybox),
                     "static busybox not installed (Debian package busybox-static)")
    stage1_dir = build / "lib" / "rkt" / "stage1"

    def built(stage1: str) -> bool:
        return (stage1_dir / ("nspawn" if stage1 == "nspawn" else "kvm") / "run").exists()

    ports = free_ports()  # the pods' (any would do there)
    with tempfile.TemporaryDirectory(prefix="rkt-bench-net-") as tmp:
        tmp = Path(tmp)
        rootfs = benchlib.images.make_busybox_rootfs(tmp / "rootfs", busybox=busybox)
        base, layout = benchlib.cached_pod_base(rkt, benchlib.images.busybox_image(rootfs), tmp)
        data = tmp / "data"
        try:
            if args.builtin_vs_qemu:
                for stage1 in ("kvm-builtin", "kvm-qemu"):
                    benchlib.require(built(stage1), f"the kvm stage1 is not built in {stage1_dir}")
                benchlib.require(os.access("/dev/kvm", os.R_OK | os.W_OK),
                                 "no /dev/kvm: kvm-builtin against kvm-qemu wants KVM "
                                 "(run it in the KVM test host)")
                pods = []
                try:
                    for stage1 in ("kvm-builtin", "kvm-qemu"):
                        pods.append(pod(base, data, layout, stage1, ports, args.mib, tmp))
                    measure(pods[0], pods[1], args)
                except RuntimeError as e:
                    print(f"skipped: {e}")
                finally:
                    for p in pods:
                        p.stop()
                return 0

            for stage1 in args.stage1 or ["nspawn", "kvm-qemu"]:
                if not built(stage1):
                    print(f"{stage1}: skipped, stage1 not built")
                    continue
                if stage1 == "kvm-builtin" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
                    print(f"{stage1}: skipped, no /dev/kvm (the built-in VMM needs KVM)")
                    continue
                try:
                    target = pod(base, data, layout, stage1, ports, args.mib, tmp)
                except RuntimeError as e:
                    print(f"skipped: {e}")
                    continue
                try:
                    host = loopback(busybox, free_ports(), args.mib)
                    try:
                        measure(target, host, args)
                    finally:
                        host.stop()
                finally:
                    target.stop()
        finally:
            subprocess.run(base + ["gc", "--grace-period=0s"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
