"""guest-init and the guest kernel, without the kvm stage1: a stand-in host (tests/guest/guest_vm.py)
boots them under QEMU microvm (TCG), serves erofs app disks and speaks the guest protocol."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness import REPO, have_command, require

sys.path.insert(0, str(REPO / "tests" / "guest"))
import guest_vm  # noqa: E402
from guest_vm import GuestVM, PodRun, app, pod_spec  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guest(build_dir, tmp_path_factory):
    """(kernel, initramfs, busybox erofs disk) for the module's VMs."""
    for cmd, package in (("qemu-system-x86_64", "qemu-system-x86"),
                         ("mkfs.erofs", "erofs-utils")):
        require(have_command(cmd), f"{cmd} not found (Debian package {package})")
    require(guest_vm.find_busybox(), "static busybox not found (Debian package busybox-static)")
    kernel, guest_init = guest_vm.find_guest_artifacts(build_dir)
    require(kernel, "guest kernel not built (cmake --build build --target guest-kernel)")
    require(guest_init, "guest-init not built (cmake --build build --target guest-init)")
    work = tmp_path_factory.mktemp("guest")
    initramfs = guest_vm.write_initramfs(guest_init, work / "initramfs.cpio")
    rootfs = guest_vm.make_busybox_rootfs(work / "rootfs")
    # The test program (tests/fixtures/inspect), for what a shell cannot do.
    inspect = build_dir / "tests" / "fixtures" / "inspect"
    if inspect.exists():
        shutil.copy2(inspect, rootfs / "inspect")
    disk = guest_vm.make_erofs(rootfs, work / "busybox.erofs")
    return kernel, initramfs, disk


@pytest.fixture
def boot(guest, tmp_path):
    """boot(disks=None, **vm_args) -> GuestVM that has sent Ready; closed after the test."""
    kernel, initramfs, disk = guest
    vms = []

    def start(disks=None, **kw) -> GuestVM:
        run_dir = tmp_path / f"vm{len(vms)}"
        run_dir.mkdir()
        vm = GuestVM(kernel, initramfs, run_dir, disks or [disk], **kw)
        vms.append(vm)
        ready = vm.expect("Ready")
        vm.ready = ready
        return vm

    yield start
    for vm in vms:
        vm.close()


def run_pod(vm: GuestVM, spec: dict, timeout: float = 60.0) -> PodRun:
    vm.send("PodSpec", spec)
    run = vm.run_until_exit(timeout)
    assert vm.wait() == 0, "QEMU did not exit cleanly after the guest powered off"
    return run


def test_ready_then_app_output_and_exit_code(boot):
    vm = boot()
    ready = vm.ready.body
    assert ready["monotonic_ns"] > 0 and ready["kernel_release"].startswith("6.1")
    print(f"\nguest boot-to-Ready: {ready['monotonic_ns'] / 1e6:.0f} ms (guest monotonic clock)")
    run = run_pod(vm, pod_spec([app("hello", ["/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"])]))
    assert [f.body["app"] for f in run.of("AppStarted")] == ["hello"]
    assert run.output("hello") == "hello\n"
    assert run.output("hello", "stderr") == "oops\n"
    assert run.exited("hello") == {"app": "hello", "exit_code": 3}
    assert run.pod_exit() == 3
    # Output comes before the exit it belongs to.
    order = [f.type for f in run.frames if f.type in ("AppOutput", "AppExited", "PodExited")]
    assert order[-2:] == ["AppExited", "PodExited"]


def test_programs_that_cannot_run_are_reported(boot):
    vm = boot()
    run = run_pod(vm, pod_spec([
        app("missing", ["/nope"]),
        app("not-in-path", ["nope"]),
        app("bad-elf", ["/bin/bad-elf"]),
        app("not-executable", ["/bin/not-executable"]),
    ]))
    missing = run.exited("missing")
    assert missing["exit_code"] == 127
    assert missing["error"] == "could not execute: /nope: no such file or directory"
    assert run.exited("not-in-path")["error"] == "could not execute: nope: not found in PATH"
    assert run.exited("not-in-path")["exit_code"] == 127
    bad = run.exited("bad-elf")
    assert bad["exit_code"] == 126 and "exec format error" in bad["error"], bad
    denied = run.exited("not-executable")
    assert denied["exit_code"] == 126 and "permission denied" in denied["error"], denied
    assert not run.of("AppStarted")
    assert run.pod_exit() == 127


def test_a_failing_app_stops_the_others(boot):
    vm = boot()
    sleeper = "trap 'echo stopping; exit 0' TERM; echo up; while true; do sleep 1; done"
    run = run_pod(vm, pod_spec([
        app("sleeper", ["/bin/sh", "-c", sleeper]),
        app("failer", ["/bin/sh", "-c", "sleep 1; exit 5"]),
    ]))
    assert run.exited("failer")["exit_code"] == 5
    assert run.exited("sleeper")["exit_code"] == 0
    assert "stopping" in run.output("sleeper")
    assert run.pod_exit() == 5
    exits = [f.body["app"] for f in run.of("AppExited")]
    assert exits == ["failer", "sleeper"]


def test_stop_pod_ends_a_sleeping_app(boot):
    vm = boot()
    vm.send("PodSpec", pod_spec([app("sleepy", ["/bin/sleep", "1000"])]))
    run = PodRun()
    vm.expect("AppStarted", into=run)
    vm.send("StopPod", {"force": False})
    vm.run_until_exit(into=run)
    assert vm.wait() == 0
    assert run.exited("sleepy") == {"app": "sleepy", "exit_code": 143, "signal": 15}
    assert run.pod_exit() == 143


def test_stop_grace_ends_with_sigkill(boot):
    vm = boot()
    stubborn = "trap '' TERM; echo up; while true; do sleep 1; done"
    vm.send("PodSpec", pod_spec([app("stubborn", ["/bin/sh", "-c", stubborn])], stop_grace_ms=300))
    run = PodRun()
    vm.expect("AppOutput", into=run)  # "up": the trap is in place
    vm.send("StopPod", {"force": False})
    vm.run_until_exit(into=run)
    assert vm.wait() == 0
    assert run.exited("stubborn")["signal"] == 9


def test_signal_reaches_one_app(boot):
    vm = boot()
    waiter = "trap 'echo got-usr1; exit 7' USR1; echo up; while true; do sleep 1; done"
    vm.send("PodSpec", pod_spec([app("waiter", ["/bin/sh", "-c", waiter])]))
    run = PodRun()
    vm.expect("AppOutput", into=run)
    vm.send("Signal", {"app": "waiter", "signal": 10})
    vm.run_until_exit(into=run)
    assert vm.wait() == 0
    assert "got-usr1" in run.output("waiter")
    assert run.exited("waiter")["exit_code"] == 7


def test_app_context(boot):
    vm = boot()
    script = ("id; pwd; echo FOO=$FOO; hostname; cat /etc/hostname; cat /etc/hosts; "
              "cat /etc/resolv.conf; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; "
              "ls /dev; touch /tmp/w && echo tmp-writable; "
              "ls /opt 2>&1 || true; cat /proc/1/cmdline; echo")
    run = run_pod(vm, pod_spec(
        [app("ctx", ["sh", "-c", script], user="1000", group="1000", supplementary_gids=[1001],
             working_dir="/work/dir", env=["PATH=/bin", "FOO=bar baz"],
             isolation={"masked_paths": False, "no_new_privileges": True,
                        "capabilities": ["CAP_CHOWN", "CAP_KILL"]})],
        hosts_entries=[{"ip": "10.1.2.3", "names": ["db"]}],
        dns={"nameservers": ["10.0.0.2"], "search": ["example.com"], "options": []}))
    out = run.output("ctx")
    assert run.exited("ctx")["exit_code"] == 0, (out, run.output("ctx", "stderr"))
    assert "uid=1000(user) gid=1000(user) groups=1001(extra)" in out
    assert "/work/dir\n" in out
    assert "FOO=bar baz" in out
    assert out.count("rkt-guest-test") >= 3  # hostname, /etc/hostname, /etc/hosts
    assert "10.1.2.3 db" in out
    assert "nameserver 10.0.0.2" in out and "search example.com" in out
    # CAP_CHOWN (0) and CAP_KILL (5).
    assert "CapBnd:\t0000000000000021" in out
    assert "NoNewPrivs:\t1" in out
    for node in ("null", "zero", "urandom", "tty", "pts", "shm"):
        assert node in out.split()
    assert "tmp-writable" in out
    # The guest's own root (guest-init, /opt/stage2) is not visible from the app.
    assert "No such file or directory" in out
    assert "/init" in out  # PID 1 is guest-init, seen through the app's /proc


def test_masked_paths_and_seccomp(boot):
    vm = boot()
    script = ("stat -c '%A %n' /sys/firmware; "
              "echo 1 > /proc/sys/vm/panic_on_oom 2>&1 || true; "
              "mkdir /tmp/d 2>&1 || echo mkdir-denied; echo still-running")
    run = run_pod(vm, pod_spec([app(
        "locked", ["/bin/sh", "-c", script],
        isolation={"masked_paths": True, "no_new_privileges": True,
                   "seccomp": {"mode": "remove", "syscalls": ["mkdir", "mkdirat"], "errno": 1}})]))
    out = run.output("locked") + run.output("locked", "stderr")
    assert run.exited("locked")["exit_code"] == 0, out
    # rkt's masked and read-only paths (this kernel has no /proc/kcore, sysrq or core_pattern).
    assert "d--------- /sys/firmware" in out
    assert "Read-only file system" in out
    assert "mkdir-denied" in out and "Operation not permitted" in out
    assert "still-running" in out


def test_user_and_group_by_name(boot):
    vm = boot()
    run = run_pod(vm, pod_spec([app("named", ["/bin/id"], user="user", group="user")]))
    assert "uid=1000(user) gid=1000(user) groups=1001(extra)" in run.output("named"), \
        run.output("named") + run.output("named", "stderr")


def test_unknown_user_is_an_app_error(boot):
    vm = boot()
    run = run_pod(vm, pod_spec([app("ghost", ["/bin/id"], user="ghost")]))
    exited = run.exited("ghost")
    assert exited["exit_code"] == 126 and "could not start" in exited["error"], exited
    assert "ghost" in exited["error"]


def test_root_app_keeps_only_its_capabilities(boot):
    vm = boot()
    run = run_pod(vm, pod_spec([app(
        "root", ["/bin/sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; "
                                  "touch /written && echo rootfs-writable"],
        isolation={"masked_paths": False, "no_new_privileges": False,
                   "capabilities": ["CAP_NET_BIND_SERVICE"]})]))
    out = run.output("root")
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert f"{key}:\t0000000000000400" in out, out
    assert "rootfs-writable" in out


def test_volumes(boot, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("host data\n")
    vm = boot(volumes_9p={"vol0": shared})
    writer = "cat /data/from-host; echo guest data > /data/from-guest; echo hi > /scratch/x"
    reader = "sleep 1; cat /scratch/x; touch /ro/y 2>&1 || true"
    run = run_pod(vm, pod_spec(
        [app("writer", ["/bin/sh", "-c", writer],
             mounts=[{"volume": "host", "path": "/data"}, {"volume": "tmp", "path": "/scratch"}]),
         app("reader", ["/bin/sh", "-c", reader],
             mounts=[{"volume": "tmp", "path": "/scratch"},
                     {"volume": "host", "path": "/ro", "read_only": True}])],
        volumes=[{"name": "host", "kind": "9p", "tag": "vol0"},
                 {"name": "tmp", "kind": "empty"}]))
    assert run.output("writer") == "host data\n", run.output("writer", "stderr")
    assert (shared / "from-guest").read_text() == "guest data\n"
    out = run.output("reader")
    assert out.startswith("hi\n"), (out, run.output("reader", "stderr"))
    assert "Read-only file system" in out
    assert run.pod_exit() == 0


def test_missing_disk_is_an_app_error(boot):
    vm = boot()
    run = run_pod(vm, pod_spec([app("nodisk", ["/bin/true"], disk=5)]))
    exited = run.exited("nodisk")
    assert exited["exit_code"] == 126
    assert "/dev/vdf" in exited["error"] and "does not exist" in exited["error"]


def test_disk_found_by_serial(boot, guest):
    _, _, disk = guest
    vm = boot(disks=[disk, disk])
    run = run_pod(vm, pod_spec([app("serial", ["/bin/true"], disk=0, disk_serial="rkt-disk-1")]))
    assert run.exited("serial")["exit_code"] == 0


def test_bad_pod_spec_is_refused(boot):
    vm = boot()
    spec = pod_spec([app("Bad_Name", ["/bin/true"])])
    vm.send("PodSpec", spec)
    run = PodRun()
    err = vm.expect("Error", into=run)
    assert "ACName" in err.body["message"]
    vm.run_until_exit(into=run)
    assert run.pod_exit() == 254
    assert vm.wait() == 0


def test_host_going_away_ends_the_vm(boot):
    vm = boot()
    vm.send("PodSpec", pod_spec([app("sleepy", ["/bin/sleep", "1000"])]))
    vm.expect("AppStarted")
    vm.conn.close()
    vm.conn = None
    assert vm.wait() == 0


# ---- each app's cgroup: its limits, the OOM killer, its pids, its devices ----

CGROUP_REPORT = ("mkdir -p /tmp/cg && mount -t cgroup2 cgroup2 /tmp/cg && "
                 "cg=/tmp/cg$(cut -d: -f3 /proc/self/cgroup) && "
                 "for f in memory.max memory.oom.group cpu.max cpu.weight pids.max; do "
                 "echo \"$f=$(cat $cg/$f)\"; done; "
                 "echo \"self=$(cut -d: -f3 /proc/self/cgroup)\"; "
                 "echo \"init=$(cut -d: -f3 /proc/1/cgroup)\"; "
                 "echo \"init_adj=$(cat /proc/1/oom_score_adj)\"; "
                 "echo \"adj=$(cat /proc/self/oom_score_adj)\"")


def test_each_app_has_a_cgroup_with_its_limits(boot):
    vm = boot()
    run = run_pod(vm, pod_spec([
        app("limited", ["/bin/sh", "-c", CGROUP_REPORT],
            limits={"memory_bytes": 33554432, "cpu_millis": 250, "cpu_weight": 50,
                    "pids_max": 20}),
        app("free", ["/bin/sh", "-c", CGROUP_REPORT]),
    ]))
    limited = run.output("limited")
    assert run.exited("limited")["exit_code"] == 0, (limited, run.output("limited", "stderr"))
    for expected in ("memory.max=33554432", "memory.oom.group=1", "cpu.max=25000 100000",
                     "cpu.weight=50", "pids.max=20", "self=/apps/limited"):
        assert expected in limited.splitlines(), limited
    free = run.output("free")
    for expected in ("memory.max=max", "memory.oom.group=1", "cpu.max=max 100000",
                     "cpu.weight=100", "pids.max=max", "self=/apps/free"):
        assert expected in free.splitlines(), free
    for out in (limited, free):
        # guest-init is in a cgroup of its own, the OOM killer's last choice; its apps are not.
        assert "init=/guest-init" in out.splitlines() and "init_adj=-1000" in out.splitlines()
        assert "adj=0" in out.splitlines(), out


def test_an_app_over_its_memory_limit_is_oom_killed_alone(boot):
    vm = boot()
    bystander = "trap 'echo stopped; exit 0' TERM; echo up; while true; do sleep 1; done"
    run = run_pod(vm, pod_spec([
        # Its /tmp is a tmpfs of the guest's memory, charged to the app.
        app("hog", ["/bin/sh", "-c", "head -c 100000000 /dev/zero > /tmp/fill; echo survived"],
            limits={"memory_bytes": 32 << 20}),
        app("bystander", ["/bin/sh", "-c", bystander]),
    ]))
    assert run.exited("hog") == {"app": "hog", "exit_code": 137, "signal": 9,
                                 "oom_killed": True}, run.output("hog")
    assert "survived" not in run.output("hog")
    assert run.exited("bystander") == {"app": "bystander", "exit_code": 0}
    assert "stopped" in run.output("bystander")
    assert run.pod_exit() == 137


def test_a_fork_bomb_stops_at_its_pids_limit(boot, build_dir):
    require((build_dir / "tests" / "fixtures" / "inspect").exists(),
            "tests/fixtures/inspect not built (target inspect)")
    vm = boot()
    other = "trap 'exit 0' TERM; echo up; while true; do sleep 1; done"
    vm.send("PodSpec", pod_spec([
        app("bomb", ["/inspect", "--make-processes=200", "--sleep=-1"], limits={"pids_max": 16}),
        app("other", ["/bin/sh", "-c", other])]))
    run = PodRun()
    while "made " not in run.output("bomb"):
        vm.expect("AppOutput", into=run)
    # inspect itself is one of the 16.
    assert run.output("bomb") == ("made 15 processes, then fork failed: "
                                  "Resource temporarily unavailable\n"), run.output("bomb")
    # The other app, and guest-init for it, still make processes (a command in its context).
    vm.send("Exec", {"id": 1, "app": "other", "exec": ["/inspect", "--make-processes=30"]})
    done = vm.expect("ExecExited", into=run)
    out = b"".join(f.payload for f in run.of("ExecOutput")).decode()
    assert done.body == {"id": 1, "exit_code": 0} and out == "made 30 processes\n", (done.body, out)
    vm.send("StopPod", {"force": False})
    vm.run_until_exit(into=run)
    assert vm.wait() == 0
    assert run.exited("other")["exit_code"] == 0
    assert run.exited("bomb")["signal"] == 15


def test_no_app_reaches_the_console_or_the_kernel_log(boot):
    vm = boot()
    # Every capability, no seccomp filter (guest_vm's default isolation): only the device
    # allow-list stands between the app and the console. A write to a path that is no device
    # node would make a file, so only device nodes are tried.
    script = ("attempt() { if [ -c \"$1\" ]; then "
              "(echo '<0>Kernel panic - not syncing: fake' > \"$1\") 2>/dev/null "
              "&& echo \"wrote $1\" || echo \"denied $1\"; else echo \"absent $1\"; fi; }; "
              "for node in 'console c 5 1' 'ttyS0 c 4 64' 'kmsg c 1 11' 'hvc0 c 229 0'; do "
              "set -- $node; mknod /dev/$1 $2 $3 $4 2>/dev/null && echo \"made $1\"; "
              "attempt /dev/$1; done; "
              "for path in /proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2 /proc/1/root/dev/console "
              "/proc/1/root/dev/ttyS0 /proc/1/root/dev/kmsg; do attempt $path; done; "
              "echo ok > /dev/null && echo null-works")
    run = run_pod(vm, pod_spec([app("root", ["/bin/sh", "-c", script])]))
    out = run.output("root")
    assert run.exited("root")["exit_code"] == 0, (out, run.output("root", "stderr"))
    assert "made" not in out, out  # mknod of anything outside the list: EPERM
    assert "wrote" not in out, out  # nor can a node guest-init has be opened
    # guest-init's console and kernel log, reached through /proc/1, exist and are refused.
    for path in ("fd/0", "fd/1", "fd/2", "root/dev/console", "root/dev/ttyS0", "root/dev/kmsg"):
        assert f"denied /proc/1/{path}" in out.splitlines(), out
    assert "null-works" in out
    assert "fake" not in vm.console(), vm.console()
