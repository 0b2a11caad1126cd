"""The kvm stage1's limits inside the guest: each app in a cgroup of its own (cgroup v2 in the
guest) with its memory, CPU and pids limits, guest-init outside all of them; an app the OOM
killer ended is reported as such; and the device allow-list, so that no app reaches the console
or the kernel log, and rkt never quotes what an app wrote there as the guest kernel's panic.
Tests taking `engine` run with QEMU and with the built-in VMM (kvm-builtin: in the KVM test
host, test_kvm_builtin.py). Needs root, the guest kernel, guest-init and QEMU; skipped with the
reason otherwise."""

from __future__ import annotations

import os
import signal
import time

import pytest

from stage1_pods import STAGE1S, line, qemu_processes_under
from kvm_pods import _kvm, _no_leftovers, engine  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

QEMU = STAGE1S["kvm-qemu"]
FORK_FAILED = "then fork failed: Resource temporarily unavailable"



def app_log(rkt, uuid: str, app: str) -> str:
    return (rkt.pod_dir(uuid) / "logs" / f"{app}.log").read_text()


def wait_for_log(rkt, uuid: str, app: str, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = app_log(rkt, uuid, app)
        if text in log:
            return log
        assert time.monotonic() < deadline, f"{app} never said {text!r}: {log!r}"
        time.sleep(0.05)


# ---- item: each app's limits are its own cgroup's ----

# Mounting cgroup2 needs CAP_SYS_ADMIN, so these pods run with --insecure-options=all-run.
LIMIT_PROBES = ("--mount-cgroup2=/sys/fs/cgroup", "--print-memorylimit", "--print-cpuquota",
                "--print-cpushares", "--print-pidslimit", "--read-file=/proc/self/cgroup",
                "--read-file=/proc/1/cgroup", "--read-file=/proc/self/oom_score_adj")


def test_each_app_has_its_own_cgroup_with_its_limits(rkt, engine, inspect_image):
    rkt.insecure_options = "image,all-run"
    res, uuid = rkt.run_pod(engine.flag,
                            inspect_image.arg, "--name=limited", "--memory=48Mi", "--cpu=250m",
                            "--cpu-shares=512", "--pids-limit=77", "--", *LIMIT_PROBES, "---",
                            inspect_image.arg, "--name=free", "--", *LIMIT_PROBES)
    res.expect(0)
    limited = app_log(rkt, uuid, "limited")
    assert line(limited, "Memory Limit:") == str(48 << 20), limited
    assert line(limited, "CPU Quota:") == "250", limited
    assert line(limited, "CPU Weight:") == "20", limited  # shares 512, as systemd maps them
    assert line(limited, "Pids Limit:") == "77", limited
    assert line(limited, "/proc/self/cgroup:") == "0::/apps/limited", limited
    free = app_log(rkt, uuid, "free")
    assert line(free, "Memory Limit:") == "max", free
    assert line(free, "CPU Quota:") == "max", free
    assert line(free, "CPU Weight:") == "100", free
    assert line(free, "Pids Limit:") == "4096", free  # rkt's default
    assert line(free, "/proc/self/cgroup:") == "0::/apps/free", free
    for log in (limited, free):
        # guest-init is outside every app's limits; an app does not inherit its oom_score_adj.
        assert line(log, "/proc/1/cgroup:") == "0::/guest-init", log
        assert line(log, "/proc/self/oom_score_adj:") == "0", log


# ---- the OOM killer: an app over its limit ends alone, and is reported as such ----

def test_an_app_over_its_memory_limit_is_killed_and_reported(rkt, engine, inspect_image):
    res, uuid = rkt.run_pod(engine.flag,
                            inspect_image.arg, "--name=hog", "--memory=32Mi", "--",
                            "--use-memory=100000000", "--exit-code=3", "---",
                            inspect_image.arg, "--name=bystander", "--", "--silent-sigterm",
                            "--sleep=-1")
    assert res.code == 137, repr(res)
    assert 'stage1: app "hog" was killed by the OOM killer (memory limit 32 MiB)' in res.err, \
        repr(res)
    assert "used 100000000 bytes" not in app_log(rkt, uuid, "hog")
    status = rkt.pod_dir(uuid) / "status"
    assert (status / "hog.reason").read_text() == "oom-killed"
    assert (status / "hog").read_text() == "137"
    # The other app was stopped by the pod (its SIGTERM), not by the OOM killer.
    assert (status / "bystander").read_text() == "0"
    assert not (status / "bystander.reason").exists()
    assert "bystander" not in res.err, repr(res)


def test_an_app_that_exhausts_the_vm_is_killed_and_guest_init_survives(rkt, engine,
                                                                       inspect_image):
    # No limit of its own: the VM's memory (128 MiB) runs out. The OOM killer ends the app,
    # never guest-init, which still reports it and ends the pod (an exit code, not a VM that
    # died under the pod).
    res, uuid = rkt.run_pod(engine.flag, inspect_image.arg, "--", "--use-memory=400000000",
                            "--exit-code=3")
    assert res.code == 137, repr(res)
    assert ('stage1: app "inspect" was killed by the OOM killer (no memory limit of its own: '
            "the VM's 128 MiB ran out)") in res.err, repr(res)
    assert (rkt.pod_dir(uuid) / "status" / "inspect.reason").read_text() == "oom-killed"


# ---- pids: a fork bomb stops at its app's limit ----

def test_a_fork_bomb_meets_its_limit_and_the_pod_still_stops(rkt, engine, inspect_image):
    proc, uuid = rkt.spawn_pod(engine.flag,
                               inspect_image.arg, "--name=bomb", "--pids-limit=32", "--",
                               "--make-processes=200", "--sleep=-1", "---",
                               inspect_image.arg, "--name=other", "--", "--sleep=-1",
                               timeout=120)
    try:
        log = wait_for_log(rkt, uuid, "bomb", "made ")
        # inspect itself is one of the 32.
        assert f"made 31 processes, {FORK_FAILED}" in log, log
        # guest-init and the other app still make processes (rkt enter runs in the app's
        # cgroup); a command entered into the bomb's app meets the bomb's limit.
        res = rkt.run("enter", "--app=other", uuid, "/inspect", "--make-processes=100")
        assert res.code == 0 and "made 100 processes\n" in res.out, repr(res)
        res = rkt.run("enter", "--app=bomb", uuid, "/inspect", "--make-processes=5")
        assert res.code == 0 and f"made 0 processes, {FORK_FAILED}" in res.out, repr(res)
        rkt.run("stop", uuid, timeout=120).expect(0)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    status = rkt.status(uuid)
    assert status["app-bomb"] == "0" and status["app-other"] == "0", status


# ---- devices: no app reaches the console or the kernel log ----

FAKE = "Kernel panic - not syncing: fake"
# Every way a root app could write a panic line where the kernel's own would be: device nodes
# it makes (CAP_MKNOD is in the default set) for the serial console, /dev/console, the virtio
# console, /dev/kmsg (which puts the text into the kernel's log, in the kernel's own format)
# and the disks; and guest-init's console and nodes through /proc/1/fd and /proc/1/root.
ATTEMPTS = f"""
attempt() {{
    if [ ! -c "$1" ] && [ ! -b "$1" ]; then echo "no-node $1"
    elif ( printf '<0>{FAKE} via %s\\n[    9.000000] {FAKE} via %s\\n' "$1" "$1" > "$1" ) \\
        2>/dev/null; then echo "wrote $1"
    else echo "denied $1"; fi
}}
for node in "console c 5 1" "ttyS0 c 4 64" "kmsg c 1 11" "hvc0 c 229 0" "tty0 c 4 0" \\
            "vda b 254 0" "mem c 1 1"; do
    set -- $node
    mknod /dev/$1 $2 $3 $4 2>/dev/null
    attempt /dev/$1
done
for fd in 0 1 2; do attempt /proc/1/fd/$fd; done
for node in console ttyS0 kmsg hvc0; do attempt /proc/1/root/dev/$node; done
for port in /sys/class/virtio-ports/*/dev; do
    [ -e "$port" ] || continue
    node=/dev/port-$(basename $(dirname $port))
    mknod $node c $(cut -d: -f1 $port) $(cut -d: -f2 $port) 2>/dev/null
    attempt $node
done
mknod /dev/null2 c 1 3 && echo ok > /dev/null2 && echo "null works"
head -c 4 /dev/urandom > /dev/null && echo "urandom works"
echo attempts-done
"""


def attempt_results(log: str) -> dict:
    results = {}
    for text in log.splitlines():
        verb, _, node = text.partition(" ")
        if verb in ("wrote", "denied", "no-node"):
            results[node] = verb
    return results


@pytest.mark.parametrize("insecure", ["default", "all-run"])
def test_no_app_reaches_the_console_or_the_kernel_log(rkt, engine, busybox_image, insecure):
    if insecure == "all-run":
        rkt.insecure_options = "image,all-run"
    res, uuid = rkt.run_pod(engine.flag, busybox_image.arg, "--exec=/bin/sh", "--", "-c",
                            ATTEMPTS)
    res.expect(0)
    log = app_log(rkt, uuid, "busybox")
    assert "attempts-done" in log, log
    results = attempt_results(log)
    for node in ("console", "ttyS0", "kmsg", "hvc0", "tty0", "vda", "mem"):
        assert any(k.endswith("/" + node) for k in results), (node, log)
    for path in ("fd/0", "fd/1", "fd/2", "root/dev/console", "root/dev/kmsg"):
        assert f"/proc/1/{path}" in results, log
    assert [k for k, v in results.items() if v == "wrote"] == [], log
    # What an app needs still works.
    assert "null works" in log and "urandom works" in log, log
    console = (rkt.pod_dir(uuid) / "console.log").read_text(errors="replace")
    assert "fake" not in console, console[-2000:]


def test_rkt_never_quotes_an_apps_fake_panic(rkt, busybox_image):
    # The app tries every way (with every capability), then its VM dies under it: rkt says what
    # happened to the VM, and quotes no panic line, since the kernel wrote none.
    rkt.insecure_options = "image,all-run"
    proc, uuid = rkt.spawn_pod(QEMU.flag, busybox_image.arg, "--exec=/bin/sh", "--", "-c",
                               ATTEMPTS + "sleep 1000")
    try:
        wait_for_log(rkt, uuid, "busybox", "attempts-done")
        qemus = qemu_processes_under(rkt.pod_dir(uuid))
        assert len(qemus) == 1
        os.kill(qemus[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 254, err
    assert "QEMU was killed by signal 9" in err, err
    assert "fake" not in err and "panicked" not in err, err
