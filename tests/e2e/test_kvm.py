"""What only the kvm stage1 does: the pod runs in its own VM (the built-in VMM where this host's
KVM can run a Linux guest, else QEMU; TCG here), and everything that can go wrong with a VM must
end the pod with a clear message and never hang rkt: a guest kernel panic, a guest that never
becomes ready, a QEMU killed under it, an engine that cannot run here. Also: logs, list and
status, enter's errors, the host's /etc/hosts entries, gc. Tests taking `engine` run once with
QEMU (kvm-qemu) and once with the built-in VMM (kvm-builtin: skipped where KVM cannot run Linux
guests, and run inside the KVM test host by test_kvm_builtin.py). The scenarios every isolating
stage1 shares run in test_stage1_scenarios.py. Needs root, the guest kernel, guest-init and
QEMU; skipped with the reason otherwise."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from stage1_pods import STAGE1S, builtin_engine_probe, line, qemu_processes_under, run, spawn_pod
from kvm_pods import _kvm, _no_leftovers, engine  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

QEMU = STAGE1S["kvm-qemu"]



def builtin_engine_usable(build_dir: Path) -> tuple:
    return builtin_engine_probe(build_dir)


# ---- the first command of the README ----

def test_hello_from_inside_the_vm(rkt, inspect_image):
    res, uuid = rkt.run_pod("--stage1=kvm", inspect_image.arg, "--exec=/inspect", "--",
                            "--print-msg=hello", "--exit-code=3", "--read-file=/proc/version")
    assert res.code == 3, repr(res)
    assert "hello" in res.out.splitlines()
    # The app's kernel is the pod's guest kernel, not the host's.
    guest_kernel = line(res.out, "/proc/version:")
    assert guest_kernel != Path("/proc/version").read_text().strip(), repr(res)
    # Every line rkt printed on stderr is the stage1's (the engine notice here), no noise.
    for text in res.err.splitlines():
        assert text.startswith("stage1: "), repr(res)
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["app-inspect"] == "3"


def test_debug_shows_the_engine_and_the_guest_boot(rkt, engine, inspect_image):
    rkt.debug = True
    res, _ = run(rkt, engine, inspect_image, "--print-msg=hi")
    res.expect(0)
    expected = "the built-in VMM" if engine.builtin_vmm else "QEMU"
    assert f"running the pod with {expected}" in res.err, repr(res)
    assert "guest-init ready" in res.err, repr(res)


def test_engine_notice_is_one_line(rkt, inspect_image, build_dir):
    usable, _ = builtin_engine_usable(build_dir)
    res, _ = run(rkt, QEMU, inspect_image)
    res.expect(0)
    notices = [t for t in res.err.splitlines() if "TCG" in t]
    assert len(notices) <= 1, repr(res)
    if usable is False:
        res, _ = rkt.run_pod("--stage1=kvm", inspect_image.arg)
        res.expect(0)
        assert len([t for t in res.err.splitlines() if "built-in VMM cannot run" in t]) == 1


def test_builtin_engine_where_it_cannot_run(rkt, inspect_image, build_dir):
    usable, reason = builtin_engine_usable(build_dir)
    if usable is None:
        pytest.skip(reason)
    if usable:
        pytest.skip(f"the built-in VMM can run here ({reason}): see the L1 tests")
    res, uuid = rkt.run_pod("--stage1=kvm-builtin", inspect_image.arg)
    assert res.code == 254, repr(res)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "built-in VMM cannot run" in lines[0], repr(res)


# ---- output, logs, list and status ----

def test_logs_list_and_status(rkt, engine, inspect_image):
    res, uuid = rkt.run_pod(engine.flag, inspect_image.arg, "--name=first", "--",
                            "--print-msg=to stdout", "---",
                            inspect_image.arg, "--name=second", "--", "--sleep=1",
                            "--read-file=/nonexistent", "--exit-code=4")
    assert res.code != 0, repr(res)
    assert "to stdout" in res.out
    pod = rkt.pod_dir(uuid)
    assert "to stdout" in (pod / "logs" / "first.log").read_text()
    assert "/nonexistent" in (pod / "logs" / "second.log").read_text()  # stderr goes there too
    status = rkt.status(uuid)
    assert status["app-first"] == "0" and status["app-second"] == str(res.code)
    assert int(status["pid"]) > 0
    pods = {p["uuid"]: p for p in rkt.list_pods()}
    assert uuid in pods
    listed = pods[uuid]
    assert listed.get("state") in ("exited", "exited garbage") or "exited" in listed.get("row", "")


def test_list_shows_a_running_pod(rkt, engine, inspect_image):
    proc, uuid = spawn_pod(rkt, engine, inspect_image, "--sleep=-1")
    pods = {p["uuid"]: p for p in rkt.list_pods()}
    listed = pods[uuid]
    assert listed.get("state") == "running" or "running" in listed.get("row", ""), listed
    status = rkt.status(uuid)
    assert status["state"] == "running"
    pid = int(status["pid"])
    # The pod's pid is the stage1 itself (the VMM, or QEMU's parent): signalling it stops
    # the pod.
    assert bool(qemu_processes_under(rkt.data_dir)) != engine.builtin_vmm
    os.kill(pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert rkt.status(uuid)["state"] == "exited"


# ---- bad input and failures: clear, and never a hang ----

def test_an_entrypoint_that_does_not_exist(rkt, engine, inspect_image):
    res, uuid = rkt.run_pod(engine.flag, inspect_image.arg, "--exec=/does/not/exist")
    assert res.code == 127, repr(res)
    assert "could not execute: /does/not/exist: no such file or directory" in res.err, repr(res)
    assert rkt.status(uuid)["app-inspect"] == "127"


def test_a_guest_kernel_panic(rkt, engine, inspect_image):
    # No init the kernel can run: it panics (and reboots at once, panic=-1).
    res, uuid = run(rkt, engine, inspect_image,
                    env={"RKT_HYPERVISOR_EXTRA_KERNEL_PARAMS": "rdinit=/does-not-exist"})
    assert res.code == 254, repr(res)
    assert "the guest kernel panicked: Kernel panic - not syncing" in res.err, repr(res)
    assert rkt.status(uuid)["state"] == "exited"


def test_a_hung_guest_meets_the_watchdog(rkt, engine, inspect_image):
    # panic=0: the panicking kernel now hangs forever instead of rebooting; guest-init never
    # says Ready, and the watchdog ends the VM.
    res, _ = run(rkt, engine, inspect_image, timeout=120,
                 env={"RKT_HYPERVISOR_EXTRA_KERNEL_PARAMS": "rdinit=/does-not-exist panic=0",
                      "RKT_KVM_READY_TIMEOUT": "5"})
    assert res.code == 254, repr(res)
    assert "did not become ready within 5 s" in res.err, repr(res)


def test_qemu_killed_under_the_pod(rkt, inspect_image):
    proc, uuid = spawn_pod(rkt, QEMU, inspect_image, "--sleep=-1")
    qemus = qemu_processes_under(rkt.pod_dir(uuid))
    assert len(qemus) == 1
    os.kill(qemus[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 254, err
    assert "QEMU was killed by signal 9" in err, err
    assert rkt.status(uuid)["state"] == "exited"


def test_the_stage1_killed_takes_qemu_with_it(rkt, inspect_image):
    proc, uuid = spawn_pod(rkt, QEMU, inspect_image, "--sleep=-1")
    pod = rkt.pod_dir(uuid)
    pid = int((pod / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while qemu_processes_under(rkt.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert qemu_processes_under(rkt.data_dir) == []


def test_stop_of_an_app_that_ignores_sigterm(rkt, engine, busybox_image):
    # The app ignores SIGTERM: after the grace time (10 s) the guest kills it.
    proc, uuid = spawn_pod(rkt, engine, busybox_image, "-c",
                           "trap '' TERM; echo ignoring; sleep 1000 & wait",
                           flags=("--exec=/bin/sh",))
    log = rkt.pod_dir(uuid) / "logs" / "busybox.log"
    deadline = time.monotonic() + 60
    while "ignoring" not in log.read_text():
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    rkt.run("stop", uuid, timeout=120).expect(0)
    proc.communicate(timeout=120)
    assert rkt.status(uuid)["app-busybox"] == "137"


# ---- enter ----

def test_enter_returns_the_commands_output_and_code(rkt, engine, busybox_image):
    proc, uuid = spawn_pod(rkt, engine, busybox_image, "--sleep=-1", flags=("--exec=/inspect",))
    res = rkt.run("enter", uuid, "/bin/sh", "-c", "echo out; echo err >&2; exit 9")
    assert res.code == 9, repr(res)
    assert res.out == "out\n" and "err" in res.err
    res = rkt.run("enter", uuid, "/does/not/exist")
    assert res.code == 127 and "could not execute: /does/not/exist" in res.err, repr(res)
    # The command sees the app's files, not the guest's.
    res = rkt.run("enter", uuid, "/bin/cat", "/etc/hostname")
    assert res.out.strip() == f"rkt-{uuid}", repr(res)
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=60)


def test_enter_needs_a_running_pod(rkt, engine, inspect_image):
    res, uuid = run(rkt, engine, inspect_image)
    res.expect(0)
    res = rkt.run("enter", uuid, "/inspect")
    assert res.code == 254 and "not running" in res.err, repr(res)


# ---- the host's files and gc ----

def test_hosts_entry_host_gives_the_hosts_entries(rkt, engine, inspect_image):
    res, _ = run(rkt, engine, inspect_image, "--read-file=/etc/hosts",
                 flags=("--hosts-entry=host",))
    res.expect(0)
    for text in Path("/etc/hosts").read_text().splitlines():
        words = text.split("#")[0].split()
        if len(words) >= 2:
            assert " ".join(words) in res.out, repr(res)


def test_gc_leaves_nothing_behind(rkt, engine, inspect_image):
    res, uuid = run(rkt, engine, inspect_image)
    res.expect(0)
    pod = rkt.pod_dir(uuid)
    assert not (pod / "kvm-control.sock").exists()
    rkt.run("gc", "--grace-period=0s").expect(0)
    rkt.run("gc", "--grace-period=0s").expect(0)
    assert rkt.pod_dir(uuid) is None


def test_host_volumes_on_the_builtin_engine_say_what_to_do(rkt, inspect_image, tmp_path,
                                                           build_dir):
    STAGE1S["kvm-builtin"].require(build_dir)
    res, _ = run(rkt, STAGE1S["kvm-builtin"], inspect_image,
                 flags=(f"--volume=d,kind=host,source={tmp_path}", "--mount=volume=d,target=/d"))
    assert res.code == 254, repr(res)
    assert "need virtio-9p" in res.err and "--stage1=kvm-qemu" in res.err, repr(res)


def test_stage1_kvm_takes_qemu_for_host_volumes_where_the_builtin_engine_runs(
        rkt, inspect_image, tmp_path, build_dir):
    # --stage1=kvm picks the engine: host volumes need virtio-9p, which only QEMU has, so such a
    # pod runs on QEMU even where the built-in VMM could run it, and says so in one line.
    (tmp_path / "msg").write_text("from the host")
    res, _ = rkt.run_pod("--stage1=kvm", f"--volume=d,kind=host,source={tmp_path}",
                         "--mount=volume=d,target=/d", inspect_image.arg, "--",
                         "--read-file=/d/msg")
    res.expect(0)
    assert "from the host" in res.out, repr(res)
    usable, _ = builtin_engine_usable(build_dir)
    notices = [t for t in res.err.splitlines() if "built-in VMM" in t]
    assert len(notices) == 1, repr(res)
    if usable:
        assert "has no virtio-9p for the pod's host volumes" in notices[0], repr(res)
