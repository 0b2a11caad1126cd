"""Hostile apps against the nspawn stage1: device nodes (made, shipped in the image, in a host
volume) and the device allow list; `rkt enter` and `rkt run --interactive` never handing a host
terminal to the pod; the pod init holding nothing of the host; an app at its memory limit, a fork
bomb and a flooding app, none of which reaches the stage1 or the other apps; the working
directory made inside the app's root. Needs root (and losetup for the loop device)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import termios
import time
from pathlib import Path

import pytest

import harness
from harness import oci_pack as op
from harness import images
from stage1_pods import STAGE1S, remove_pods
from stage1_pods import run as run_on
from stage1_pods import spawn_pod as spawn_on

NSPAWN = STAGE1S["nspawn"]
LOG_LIMIT = 8 << 20  # common/capped_log.h kDefaultLogLimit
DEADLINE = 60


@pytest.fixture(autouse=True)
def _nspawn(build_dir):
    NSPAWN.require(build_dir)


@pytest.fixture(autouse=True)
def _remove_pods(rkt):
    yield
    remove_pods(rkt)


def run(rkt, image, *args, flags=(), **kw):
    return run_on(rkt, NSPAWN, image, *args, flags=flags, **kw)


def spawn_pod(rkt, image, *args, flags=()):
    return spawn_on(rkt, NSPAWN, image, *args, flags=flags)


def sh(script: str) -> tuple:
    """busybox sh -c SCRIPT as the app."""
    return ("--exec=/bin/sh",), ("-c", script)


def wait_for(predicate, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


@pytest.fixture
def loop_device(tmp_path):
    """A loop device over a 1 MiB file of zeros: (device path, backing file)."""
    harness.require_command("losetup", "util-linux")
    backing = tmp_path / "disk.img"
    backing.write_bytes(b"\0" * (1 << 20))
    res = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True,
                         text=True)
    harness.require(res.returncode == 0, f"no loop device here: {res.stderr.strip()}")
    device = res.stdout.strip()
    yield Path(device), backing
    subprocess.run(["losetup", "--detach", device])


@pytest.fixture
def busybox_with(inspect_binary, tmp_path):
    """busybox_with(entries) -> the busybox image with a layer of `entries` on top."""
    harness.require(images.find_busybox(), "busybox not found (Debian package busybox-static)")
    rootfs = images.make_busybox_rootfs(tmp_path / "busybox-rootfs", inspect_binary)
    made = []

    def make(entries):
        made.append(None)
        return harness.pack(images.busybox_image(rootfs, layers=[str(rootfs), list(entries)]),
                            tmp_path / f"busybox-with-{len(made)}")
    return make


def device_numbers(path: Path) -> tuple:
    st = os.stat(path)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def device_start(device: Path) -> bytes:
    fd = os.open(device, os.O_RDONLY)
    try:
        return os.read(fd, 16)
    finally:
        os.close(fd)


# ---- devices: the allow list on the app's cgroup, image trees nodev ----

def test_root_app_cannot_make_a_block_device_and_write_it(rkt, busybox_image, loop_device):
    device, _ = loop_device
    major, minor = device_numbers(device)
    script = (f"mknod /dev/disk b {major} {minor} && echo made-in-dev; "
              "[ -b /dev/disk ] && echo pwned > /dev/disk && echo wrote-in-dev; "
              f"mknod /tmp/disk b {major} {minor} && echo made-in-tmp; "
              "[ -b /tmp/disk ] && echo pwned > /tmp/disk && echo wrote-in-tmp; "
              "mknod /dev/lc c 10 237 && echo made-loop-control; "
              "mknod /dev/myptmx c 5 2 && echo made-ptmx; true")
    flags, args = sh(script)
    res, _ = run(rkt, busybox_image, *args, flags=flags)
    res.expect(0)
    for made in ("made-in-dev", "wrote-in-dev", "made-in-tmp", "wrote-in-tmp",
                 "made-loop-control", "made-ptmx"):
        assert made not in res.out, repr(res)
    assert "Operation not permitted" in res.err, repr(res)
    assert not device_start(device).startswith(b"pwned")


def test_device_nodes_shipped_in_the_image_open_nothing(rkt, busybox_with, loop_device):
    device, _ = loop_device
    major, minor = device_numbers(device)
    image = busybox_with([op.Entry("disk", "block", mode=0o666, devmajor=major, devminor=minor),
                          op.CharDevice("loop-control", 10, 237, mode=0o666)])
    script = ("echo pwned > /disk && echo wrote-disk; "
              "cat /loop-control > /dev/null && echo opened-loop-control; true")
    for user in ("--user=1000", "--user=0"):
        flags, args = sh(script)
        res, _ = run(rkt, image, *args, flags=flags + (user, "--group=1000"))
        res.expect(0)
        assert "wrote-disk" not in res.out and "opened-loop-control" not in res.out, repr(res)
    assert not device_start(device).startswith(b"pwned")


def test_device_nodes_in_a_host_volume_are_refused_by_the_cgroup(rkt, busybox_image,
                                                                 loop_device, tmp_path):
    """A host volume keeps its mount flags (devices allowed there): the cgroup refuses, EPERM."""
    device, _ = loop_device
    major, minor = device_numbers(device)
    vol = tmp_path / "vol"
    vol.mkdir()
    os.mknod(vol / "disk", 0o666 | 0o060000, os.makedev(major, minor))
    os.mknod(vol / "loop-control", 0o666 | 0o020000, os.makedev(10, 237))
    os.mknod(vol / "null", 0o666 | 0o020000, os.makedev(1, 3))
    script = ("echo pwned > /vol/disk && echo wrote-disk; "
              "cat /vol/loop-control > /dev/null && echo opened-loop-control; "
              "echo fine > /vol/null && echo wrote-null")
    flags, args = sh(script)
    res, _ = run(rkt, busybox_image, *args, flags=flags + (
        f"--volume=vol,kind=host,source={vol}", "--mount=volume=vol,target=/vol"))
    res.expect(0)
    assert "wrote-null" in res.out, repr(res)
    assert "wrote-disk" not in res.out and "opened-loop-control" not in res.out, repr(res)
    assert res.err.count("Operation not permitted") == 2, repr(res)
    assert not device_start(device).startswith(b"pwned")


def test_the_pods_own_devices_and_terminals_still_work(rkt, busybox_image):
    script = ("/inspect --open-pty && head -c 4 /dev/urandom | wc -c && echo x > /dev/null && "
              "head -c 3 /dev/zero | wc -c && echo ok")
    flags, args = sh(script)
    res, _ = run(rkt, busybox_image, *args, flags=flags)
    res.expect(0)
    assert "pty: /dev/pts/" in res.out and res.out.split()[-1] == "ok", repr(res)


# ---- enter: the command gets the pod's terminal (or pipes), never the caller's ----

def test_enter_on_a_terminal_hands_the_pod_no_host_terminal(rkt, busybox_image):
    proc, uuid = spawn_pod(rkt, busybox_image, "--sleep=-1", flags=("--exec=/inspect",))
    # The entered shell leaves a reader of its stdin behind (HUP ignored), as a hostile app
    # process that opened /proc/<pid>/fd/0 would be; it writes what it read, then "done".
    script = ("exec 3<&0; (trap '' HUP; head -n 1 <&3 > /tmp/stolen; echo done >> /tmp/stolen) & "
              "tty; echo entered")
    child = rkt.spawn_pty("enter", uuid, "/bin/sh", "-c", script)
    child.expect("entered")
    assert child.wait() == 0, child.output
    child.send("typed-after-enter\n")
    stolen = wait_for(lambda: (lambda r: r.out if "done" in r.out else "")(
        rkt.run("enter", uuid, "/bin/cat", "/tmp/stolen")), "the left reader to end")
    assert "typed-after-enter" not in stolen
    assert "/dev/pts/" in child.output, "the command's terminal is one of the pod's devpts"
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=DEADLINE)


def _spawn_on_own_pty(argv):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower,
                            start_new_session=True)
    return proc, leader, follower


def _read_until(fd, needle: bytes, timeout: float = DEADLINE) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out:
        assert time.monotonic() < deadline, f"{needle!r} not seen: {out!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_enter_relays_a_terminal_and_restores_it(rkt, busybox_image):
    proc, uuid = spawn_pod(rkt, busybox_image, "--sleep=-1", flags=("--exec=/inspect",))
    enter, leader, follower = _spawn_on_own_pty(
        rkt.command("enter", uuid, "/bin/sh", "-c", "echo ready; read x; echo got-$x; sleep 1000"))
    try:
        before = termios.tcgetattr(follower)
        _read_until(leader, b"ready")
        raw = termios.tcgetattr(follower)
        assert not raw[3] & (termios.ICANON | termios.ECHO), "the caller's terminal is raw"
        os.write(leader, b"hello\r")
        _read_until(leader, b"got-hello")
        # Stopped by a signal: the command gets it, the terminal comes back as it was.
        enter.send_signal(signal.SIGTERM)
        assert enter.wait(timeout=DEADLINE) == 128 + signal.SIGTERM
        assert termios.tcgetattr(follower) == before
    finally:
        if enter.poll() is None:
            enter.kill()
        os.close(leader)
        os.close(follower)
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=DEADLINE)


def test_enter_without_a_terminal_gives_pipes_not_the_callers_files(rkt, busybox_image,
                                                                    tmp_path):
    proc, uuid = spawn_pod(rkt, busybox_image, "--sleep=-1", flags=("--exec=/inspect",))
    given = tmp_path / "stdin.txt"
    given.write_text("from the caller\n")
    with open(given) as stdin:
        script = "readlink /proc/self/fd/0; readlink /proc/self/fd/1; cat; echo err >&2; exit 3"
        enter = rkt.spawn("enter", uuid, "/bin/sh", "-c", script, stdin=stdin)
        out, err = enter.communicate(timeout=DEADLINE)
    assert enter.returncode == 3, (out, err)
    links = out.splitlines()[:2]
    assert all(link.startswith("pipe:") for link in links), out
    assert "from the caller" in out and err.strip().endswith("err"), (out, err)
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=DEADLINE)


def test_interactive_app_gets_a_terminal_of_the_pod(rkt, busybox_image):
    script = ("tty; stat -L -c %d /proc/self/fd/0 /dev/pts/ptmx | uniq | wc -l; "
              "read x; echo got-$x")
    child = rkt.spawn_pty("run", NSPAWN.flag, "--interactive", busybox_image.arg,
                          "--exec=/bin/sh", "--", "-c", script)
    child.expect("/dev/pts/")
    # Its stdin is on the devpts of the pod: one file system for both.
    child.expect(r"\n1\r?\n")
    child.send("hi\r")
    child.expect("got-hi")
    assert child.wait() == 0, child.output


# ---- the pod init: an empty root of its own, no host descriptor, CAP_KILL only ----

def test_nothing_in_the_pod_holds_the_hosts_root_or_files(rkt, busybox_image, tmp_path):
    marker = tmp_path / "host-marker"
    marker.write_text("host-secret\n")
    escape = Path("/sys/fs/cgroup/pids") / f"rkt-e2e-escape-{os.getpid()}"
    up = "/.." * 24
    script = (f"for l in /proc/[0-9]*/root /proc/[0-9]*/cwd /proc/[0-9]*/fd/*; do "
              f"  cat \"$l{up}{marker}\" 2>/dev/null && echo \"LEAK $l\"; "
              f"  cat \"$l{marker}\" 2>/dev/null && echo \"LEAK $l\"; "
              f"done; mkdir /proc/1/root{escape} 2>/dev/null && echo LEAK-mkdir; "
              "tr '\\0' '\\n' < /proc/1/environ; "
              "grep CapEff /proc/1/status; ls /proc/1/root | wc -l; echo checked")
    rkt.env["RKT_E2E_CALLERS_SECRET"] = "host-secret"  # rkt's environment, the pod init's
    try:
        res, _ = rkt.run_pod(NSPAWN.flag, busybox_image.arg, "--name=checker",
                             "--caps-retain=CAP_SYS_PTRACE,CAP_DAC_OVERRIDE", "--exec=/bin/sh",
                             "--", "-c", script, "---",
                             busybox_image.arg, "--name=other", "--exec=/inspect", "--",
                             "--sleep=2")
    finally:
        if escape.exists():
            escape.rmdir()
    res.expect(0)
    assert "checked" in res.out, repr(res)
    assert "LEAK" not in res.out and "host-secret" not in res.out, repr(res)
    assert "CapEff:\t0000000000000020" in res.out, "the pod init keeps CAP_KILL alone\n" + res.out
    assert res.out.split()[-2] == "0", "the pod init's root is empty\n" + res.out


# ---- memory: the OOM killer takes the app, not the stage1, and says so ----

def test_oom_killed_app_is_reported_as_such(rkt, busybox_image):
    res, uuid = run(rkt, busybox_image, "BEGIN { s = \"x\"; while (1) s = s s }",
                    flags=("--exec=/bin/awk", "--memory=32Mi"))
    assert res.code == 137, repr(res)
    assert ('stage1: app "busybox" was killed by the OOM killer (memory limit 32 MiB)'
            in res.err.splitlines()), repr(res)
    status = rkt.pod_dir(uuid) / "status"
    assert (status / "busybox.reason").read_text().strip() == "oom-killed"
    assert (status / "busybox").read_text().strip() == "137"


def test_app_filling_its_memory_with_shm_leaves_the_supervisor(rkt, busybox_image):
    """tmpfs pages belong to no process: the OOM killer's biggest process in the cgroup would be
    the stage1's if it shared the app's limit."""
    res, uuid = run(rkt, busybox_image, "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=60",
                    flags=("--exec=/bin/dd", "--memory=24Mi"))
    status = rkt.pod_dir(uuid) / "status"
    assert (status / "busybox").exists(), repr(res)
    assert res.code == int((status / "busybox").read_text()), repr(res)
    assert (status / "busybox.reason").read_text().strip() == "oom-killed", repr(res)
    assert "was killed by the OOM killer" in res.err, repr(res)


# ---- pids: a fork bomb stops at its app's limit ----

def test_fork_bomb_stops_at_its_apps_pids_limit(rkt, busybox_image):
    bomb = ("(i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); done); "
            "echo bomb-over; exec sleep 1000")
    proc, uuid = rkt.spawn_pod(NSPAWN.flag, busybox_image.arg, "--name=bomb", "--pids-limit=30",
                               "--exec=/bin/sh", "--", "-c", bomb, "---",
                               busybox_image.arg, "--name=other", "--exec=/inspect", "--",
                               "--sleep=-1")
    pod = rkt.pod_dir(uuid)
    log = pod / "logs" / "bomb.log"
    wait_for(lambda: log.exists() and "bomb-over" in log.read_text(), "the bomb to stop")
    assert "can't fork" in log.read_text()
    dirs = [Path(p) for p in (pod / "cgroups").read_text().split()[1:]]
    pids = [d for d in dirs if (d / "app-bomb" / "pids.max").exists()]
    harness.require(bool(pids), "no pids controller here")
    assert (pids[0] / "app-bomb" / "pids.max").read_text().strip() == "30"
    assert int((pids[0] / "app-bomb" / "pids.current").read_text()) <= 30
    assert (pids[0] / "app-other" / "pids.max").read_text().strip() == "4096"
    # The other app, and rkt, carry on.
    res = rkt.run("enter", "--app=other", uuid, "/bin/sh", "-c", "sh -c 'echo other-forks'")
    assert "other-forks" in res.out, repr(res)
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=DEADLINE)
    assert rkt.status(uuid)["state"] == "exited"


# ---- logs: an app cannot grow its log without bound ----

def test_flooding_app_leaves_bounded_logs(rkt, busybox_image):
    flood = 20_000_000  # more than the two files hold together
    flags, args = sh(f"yes | head -c {flood}; echo; echo the-end")
    res, uuid = run(rkt, busybox_image, *args, flags=flags)
    res.expect(0)
    assert len(res.out) >= flood, "run's stdout gets all of it"
    logs = rkt.pod_dir(uuid) / "logs"
    current, previous = logs / "busybox.log", logs / "busybox.log.1"
    assert current.stat().st_size <= LOG_LIMIT and previous.stat().st_size <= LOG_LIMIT
    assert current.read_text().endswith("the-end\n")


# ---- the working directory: made inside the app's root, as fly and kvm make it ----

def test_missing_working_directory_is_made(rkt, busybox_image):
    flags, args = sh("pwd; stat -c '%u:%g %a' /not/yet/there /not/yet")
    res, _ = run(rkt, busybox_image, *args,
                 flags=flags + ("--working-dir=/not/yet/there", "--user=1000", "--group=1000"))
    res.expect(0)
    assert res.out.splitlines() == ["/not/yet/there", "0:0 755", "0:0 755"], repr(res)


def test_working_directory_through_an_escaping_symlink_is_refused(rkt, busybox_with, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    image = busybox_with([op.Symlink("escape", "../" * 24 + str(outside).lstrip("/"))])
    res, _ = run(rkt, image, "-c", "pwd", flags=("--exec=/bin/sh", "--working-dir=/escape/made"))
    assert res.code == 254, repr(res)
    assert "/escape/made" in res.err, repr(res)
    assert not (outside / "made").exists()
