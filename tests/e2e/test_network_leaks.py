"""Nothing of a pod's network outlives it: 50 pods on the default network, nspawn and kvm in turn,
each ended another way (clean exit, `rkt stop`, `rkt stop --force`, kill -9 of rkt, kill -9 of
the VMM), then `rkt gc`; afterwards no veth, tap, network namespace, iptables rule or IPAM lease
of theirs is left on the host."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from stage1_pods import STAGE1S, qemu_processes_under, spawn_pod
from test_network import host_links, leases, nat_rules_of, require_cni, rkt_netns

pytestmark = pytest.mark.slow

CYCLES = 50
ENDINGS = ("exit", "stop", "stop-force", "kill-rkt", "kill-vmm")


def wait_gone(proc, timeout=60):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_fifty_pods_leave_nothing(rkt, build_dir, inspect_image):
    require_cni()
    kinds = []
    for name in ("nspawn", "kvm-qemu"):
        try:
            STAGE1S[name].require(build_dir)
            kinds.append(STAGE1S[name])
        except pytest.skip.Exception:
            pass
    if not kinds:
        pytest.skip("neither nspawn nor kvm-qemu can run pods here")
    links = host_links()
    netns = rkt_netns()
    uuids = []
    for i in range(CYCLES):
        stage1 = kinds[i % len(kinds)]
        ending = ENDINGS[(i // len(kinds)) % len(ENDINGS)]
        if ending == "kill-vmm" and not stage1.vm:
            ending = "kill-rkt"
        if ending == "exit":
            res, uuid = rkt.run_pod(stage1.flag, inspect_image.arg, "--", "--print-ipv4=eth0")
            res.expect(0)
        else:
            proc, uuid = spawn_pod(rkt, stage1, inspect_image, "--sleep=-1")
            assert (rkt.pod_dir(uuid) / "net-info.json").exists()
            if ending == "stop":
                rkt.run("stop", uuid).expect(0)
            elif ending == "stop-force":
                rkt.run("stop", "--force", uuid).expect(0)
            elif ending == "kill-rkt":
                os.kill(proc.pid, signal.SIGKILL)
            else:
                vmms = qemu_processes_under(rkt.pod_dir(uuid))
                assert vmms, "no QEMU process found for the pod"
                for pid in vmms:
                    os.kill(pid, signal.SIGKILL)
            wait_gone(proc)
        uuids.append(uuid)
        if i % 10 == 9:
            # The pods' own gc, a batch at a time (as a timer would run it).
            deadline = time.monotonic() + 60
            while any(rkt.pod_dir(u) and rkt.status(u)["state"] == "running" for u in uuids):
                assert time.monotonic() < deadline, "pods still running after they ended"
                time.sleep(0.2)
            rkt.run("gc", "--grace-period=0s").expect(0)
    rkt.run("gc", "--grace-period=0s").expect(0)
    left = [u for u in uuids if rkt.pod_dir(u)]
    assert not left, f"pods not collected: {left}"
    assert rkt_netns() <= netns, rkt_netns() - netns
    assert host_links() <= links, host_links() - links
    for u in uuids:
        assert not nat_rules_of(u), (u, nat_rules_of(u))
    assert not leases(rkt), leases(rkt)
