"""What only the nspawn stage1 (--stage1-name=nspawn) does: the host's own /etc/hosts, the host's
network namespace, enter joining the app's cgroups, memory limits on cgroups, and gc removing
them. The scenarios every isolating stage1 shares (exit codes, hostname, volumes, capabilities,
seccomp, masked paths, user, stop, enter) are in test_stage1_scenarios.py. Needs root."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import harness
from stage1_pods import STAGE1S, line, remove_pods
from stage1_pods import run as run_on
from stage1_pods import spawn_pod as spawn_on

NSPAWN = STAGE1S["nspawn"]


@pytest.fixture(autouse=True)
def _nspawn(build_dir):
    NSPAWN.require(build_dir)


@pytest.fixture(autouse=True)
def _remove_pods(rkt):
    """`rkt rm` of every pod after the test: it runs the stage1 gc (cgroups) at once, where a
    gc could leave pods within their grace period."""
    yield
    remove_pods(rkt)


def run(rkt, image, *args, flags=()):
    """`rkt run --stage1-name=nspawn FLAGS IMAGE -- ARGS` -> (Result, uuid)."""
    return run_on(rkt, NSPAWN, image, *args, flags=flags)


def spawn_pod(rkt, image, *args, flags=()):
    return spawn_on(rkt, NSPAWN, image, *args, flags=flags)


# ---- 14: the host's /etc/hosts, shared as it is ----

def test_etc_hosts_from_the_host(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--hash-file=/etc/hosts", flags=("--hosts-entry=host",))
    assert hashlib.sha1(Path("/etc/hosts").read_bytes()).hexdigest() in res.out, repr(res)


# ---- 27: namespaces (CNI networks come with the networking work) ----

def test_net_none_and_host(rkt, inspect_image):
    host_ns = os.stat("/proc/self/ns/net").st_ino
    res, _ = run(rkt, inspect_image, "--print-netns", "--print-iface-count",
                 flags=("--net=none",))
    res.expect(0)
    assert str(host_ns) not in line(res.out, "NetNS:")
    assert line(res.out, "Interface count:") == "1", repr(res)
    res, _ = run(rkt, inspect_image, "--print-netns", flags=("--net=host",))
    res.expect(0)
    assert str(host_ns) in line(res.out, "NetNS:")


# ---- enter joins the app's cgroups ----

def test_enter_joins_the_apps_cgroups(rkt, busybox_image):
    proc, uuid = spawn_pod(rkt, busybox_image, "--sleep=-1", flags=("--exec=/inspect",))
    res = rkt.run("enter", uuid, "/bin/cat", "/proc/self/cgroup")
    assert f"rkt-{uuid}/app-" in res.out, repr(res)
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=30)


# ---- cgroups and gc ----

def test_memory_limit_and_gc_removes_cgroups(rkt, inspect_image):
    proc, uuid = spawn_pod(rkt, inspect_image, "--sleep=-1", flags=("--memory=64Mi",))
    pod = rkt.pod_dir(uuid)
    dirs = [Path(p) for p in (pod / "cgroups").read_text().split()[1:]]
    limits = [d / "app-inspect" / f for d in dirs for f in ("memory.limit_in_bytes", "memory.max")
              if (d / "app-inspect" / f).exists()]
    harness.require(bool(limits), "no memory controller here")
    assert int(limits[0].read_text()) == 64 * 1024 * 1024
    rkt.run("stop", "--force", uuid).expect(0)
    proc.communicate(timeout=30)
    rkt.run("rm", uuid).expect(0)
    assert not any(d.exists() for d in dirs)


def test_list_and_status_show_no_networks_for_net_none(rkt, inspect_image):
    res, uuid = run(rkt, inspect_image, flags=("--net=none",))
    res.expect(0)
    status = rkt.run("status", uuid).expect(0).out.splitlines()
    assert "networks=" in status, status
    assert status.index("networks=") == 3 and status[2].startswith("started="), status
    header, row = rkt.run("list").expect(0).out.splitlines()[:2]
    assert row[header.index("NETWORKS"):].strip() == "", (header, row)
    pod = json.loads(rkt.run("status", "--format=json", uuid).expect(0).out)
    assert pod["networks"] == []

