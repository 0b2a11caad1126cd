#!/usr/bin/env python3
"""`rkt run --stage1=nspawn --net=default` of a cached image whose app exits at once, against
`podman run --rm --network=<a CNI bridge network>` of the same image (loaded into podman's storage
once). Prints the medians and their ratio; --with-none also measures both without a network
(`--net=none`, `--network=none`), so that the network's own share on each side shows.

    python3 bench/net_start_vs_podman.py [--runs 10] [--with-none]

Both sides run the standard CNI plugins of /usr/lib/cni: rkt's `default` network (ptp, IP
masquerade, host-local 172.16.28.0/24), podman's a bridge network written as podman writes its
own default one (bridge with masquerade, portmap, firewall, tuning) on a subnet of its own. As in
bench/stage1_vs_runc.py, the two are interleaved, each timed run follows an untimed run of the
same command, and an exited rkt pod stays until `rkt gc` (timed and printed apart, per pod) where
`podman run --rm` removes its container before it returns.

podman (Debian's 4.3.1) runs with everything of its own in a temporary directory: --root,
--runroot, --tmpdir, and a containers.conf (CONTAINERS_CONF) with cgroupfs (no systemd here),
file events, runc, the CNI backend with its configs in the temporary directory, and ulimits below
the hard ones (podman's default nofile/nproc are above what this machine lets a container set).
What it still touches outside: the CNI plugins' cache /var/lib/cni/results (emptied by each
DEL), containers/image's blob-info cache in /var/lib/containers/cache, and the bridge it makes
(deleted at the end)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib

CNI_DIR = Path("/usr/lib/cni")
PODMAN_NET = "rktbench"
PODMAN_BRIDGE = "rktbench0"
GC_EVERY = 40  # exited rkt pods between two `rkt gc`s (each holds a lease of the /24 until gc)


def free_subnet() -> str:
    """A /24 for podman's network that no route on the host covers yet."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout.split()
    used = []
    for word in routes:
        try:
            used.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    for third in range(77, 200):
        net = ipaddress.ip_network(f"10.89.{third}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return str(net)
    raise SystemExit("no free 10.89.x.0/24 for podman's network")


class Podman:
    """podman with all of its state under `tmp`."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        net_dir = tmp / "cni"
        net_dir.mkdir(parents=True)
        subnet = free_subnet()
        gateway = str(next(ipaddress.ip_network(subnet).hosts()))
        conflist = {
            "cniVersion": "0.4.0", "name": PODMAN_NET,
            "plugins": [
                {"type": "bridge", "bridge": PODMAN_BRIDGE, "isGateway": True, "ipMasq": True,
                 "hairpinMode": True,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": subnet, "gateway": gateway}]],
                          "dataDir": str(tmp / "cni-ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "firewall"},
                {"type": "tuning"},
            ]}
        (net_dir / f"{PODMAN_NET}.conflist").write_text(json.dumps(conflist, indent=1))
        # podman's defaults (nofile 1048576, nproc 4194304) are refused here (EPERM from runc's
        # prlimit); so are the hard limits themselves; these are runc's and a modest nproc.
        nofile = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        nproc = min(4096, resource.getrlimit(resource.RLIMIT_NPROC)[1])
        conf = tmp / "containers.conf"
        conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            'runtime = "runc"\n'
            "[network]\n"
            'network_backend = "cni"\n'
            f'cni_plugin_dirs = ["{CNI_DIR}"]\n'
            f'network_config_dir = "{net_dir}"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf))
        self.base = ["podman", "--root", str(tmp / "root"), "--runroot", str(tmp / "runroot"),
                     "--tmpdir", str(tmp / "libpod"), "--network-config-dir", str(net_dir)]

    def __call__(self, *args, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.base + list(args), env=self.env, capture_output=True,
                              text=True, **kw)

    def load(self, archive: Path) -> str:
        res = self("load", "-i", str(archive))
        if res.returncode != 0:
            raise SystemExit(f"podman load failed:\n{res.stderr}")
        return self("images", "-q", "--no-trunc").stdout.split()[0]

    def cleanup(self) -> None:
        self("rm", "-af")
        self("rmi", "-af")
        # Whatever storage left mounted under tmp must go before the directory can.
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for m in sorted((m for m in mounts if m.startswith(str(self.tmp) + "/")), reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", PODMAN_BRIDGE], stderr=subprocess.DEVNULL)


def podman_problem() -> str | None:
    if shutil.which("podman") is None:
        return "podman not installed (Debian package podman)"
    for plugin in ("bridge", "host-local", "portmap", "firewall", "tuning", "ptp"):
        if not (CNI_DIR / plugin).exists():
            return f"CNI plugin {plugin} missing in {CNI_DIR} (containernetworking-plugins)"
    if shutil.which("iptables") is None:
        return "iptables not installed (Debian package iptables)"
    return None


def interleaved(a_argv, b_argv, runs: int, a_kw=None, b_kw=None):
    a, b = [], []
    for i in range(runs):
        order = [(a_argv, a, a_kw or {}), (b_argv, b, b_kw or {})]
        if i % 2:
            order.reverse()
        for argv, samples, kw in order:
            samples += benchlib.time_command(argv, 1, **kw)
    return a, b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--with-none", action="store_true",
                    help="also measure both without a network (--net=none, --network=none)")
    args = ap.parse_args()

    build = benchlib.build_dir()
    rkt = build / "bin" / "rkt"
    inspect = build / "tests" / "fixtures" / "inspect"
    benchlib.require(rkt.exists() and inspect.exists(), f"rkt or inspect not built in {build}")
    benchlib.require((build / "lib" / "rkt" / "stage1" / "nspawn" / "run").exists(),
                     "the nspawn stage1 is not built")
    problem = podman_problem()
    benchlib.require(problem is None, problem or "")

    cni_cache_existed = Path("/var/lib/cni").exists()
    with tempfile.TemporaryDirectory(prefix="rkt-bench-net-") as tmp:
        tmp = Path(tmp)
        base, layout = benchlib.cached_inspect_pod_base(rkt, inspect, tmp / "rkt")
        probe = subprocess.run(base + ["run", "--stage1=nspawn", "--net=default", str(layout),
                                       "--", "--print-ipv4=eth0"],
                               capture_output=True, text=True, timeout=120)
        rkt_problem = None
        if probe.returncode != 0 or "IPv4: 172.16.28." not in probe.stdout:
            rkt_problem = ("rkt run --stage1=nspawn --net=default gives the pod no 172.16.28.x "
                           f"address in this build: {(probe.stdout + probe.stderr).strip()}")

        podman = Podman(tmp / "podman")
        try:
            return measure(args, base, layout, podman, inspect, rkt_problem)
        finally:
            podman.cleanup()
            subprocess.run(base + ["gc", "--grace-period=0s"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            if not cni_cache_existed:  # podman's CNI cache, when it made it and left it empty
                for d in ("/var/lib/cni/results", "/var/lib/cni"):
                    try:
                        os.rmdir(d)
                    except OSError:
                        break


def measure(args, base: list, layout: Path, podman: Podman, inspect: Path,
            rkt_problem: str | None) -> int:
    archive = podman.tmp / "inspect.tar"
    benchlib.oci_pack.write_oci_archive(archive, benchlib.images.inspect_image(inspect))
    image = podman.load(archive)
    probe = podman("run", "--rm", f"--network={PODMAN_NET}", image, "--print-ipv4=eth0",
                   timeout=120)
    benchlib.require(probe.returncode == 0 and "IPv4: " in probe.stdout,
                     f"podman cannot run a container here: {probe.stderr.strip()}")

    if rkt_problem:  # podman's side alone, for what it is worth; then the reason
        samples = benchlib.time_command(podman.base + ["run", "--rm", f"--network={PODMAN_NET}",
                                                       image], args.runs, env=podman.env)
        print(f"podman run --network=bridge, app exits at once: "
              f"{benchlib.median_ms(samples):.1f} ms (median of {len(samples)})")
        print(f"skipped: {rkt_problem}")
        return 0

    gc = base + ["gc", "--grace-period=0s"]

    def rkt_gc() -> float:
        start = time.perf_counter()
        subprocess.run(gc, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    rkt_gc()  # the probe's pod
    cases = [("default", PODMAN_NET)] + ([("none", "none")] if args.with_none else [])
    for rkt_net, podman_net in cases:
        run = base + ["run", "--stage1=nspawn", f"--net={rkt_net}", str(layout)]
        prun = podman.base + ["run", "--rm", f"--network={podman_net}", image]
        rkt_samples, podman_samples = [], []
        gc_time, pods = 0.0, 0
        while len(rkt_samples) < args.runs:  # in rounds: gc frees the exited pods' leases
            n = min(args.runs - len(rkt_samples), GC_EVERY // 2)
            r, p = interleaved(run, prun, n, b_kw={"env": podman.env})
            rkt_samples += r
            podman_samples += p
            pods += 2 * n  # each sample follows an untimed run
            gc_time += rkt_gc()
        what = ("pod start to exit, app exits at once, with a CNI network "
                "(nspawn --net=default vs podman --network=bridge)"
                if rkt_net == "default" else
                "pod start to exit, app exits at once, no network "
                "(nspawn --net=none vs podman --network=none)")
        benchlib.report(what, rkt_samples, "podman", podman_samples)
        per_pod = gc_time * 1000 / pods
        with_gc = benchlib.median_ms(rkt_samples) + per_pod
        print(f"  then rkt gc of the {pods} exited --net={rkt_net} pods: {per_pod:.1f} ms per "
              f"pod (not in the figures above; counted in, rkt {with_gc:.1f} ms, ratio "
              f"{with_gc / benchlib.median_ms(podman_samples):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
