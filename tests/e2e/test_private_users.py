"""`rkt run --no-overlay` (the pod gets its own copy of each app's tree) and `--private-users`
(an nspawn pod in a user namespace: its ids 0-65535 are host ids SHIFT..SHIFT+65535, the
copied trees' owners shifted to match). Needs root; user namespace cases skip, with the reason,
where the host has none."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import require, require_root, require_stage1
from stage1_pods import line, remove_pods

NSPAWN = "--stage1-name=nspawn"
COPY = "--no-overlay"
USERNS = "--private-users"
DEFAULT_CAPS = ("cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,"
                "cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,"
                "cap_audit_write,cap_setfcap")


def userns_unavailable() -> str:
    try:
        if Path("/proc/sys/user/max_user_namespaces").read_text().strip() == "0":
            return "user namespaces are disabled here (/proc/sys/user/max_user_namespaces is 0)"
    except OSError:
        pass
    if not Path("/proc/self/ns/user").exists():
        return "this kernel has no user namespaces"
    return ""


@pytest.fixture
def nspawn(build_dir):
    require_root()
    require_stage1(build_dir, "nspawn")


@pytest.fixture
def userns(nspawn):
    reason = userns_unavailable()
    require(not reason, reason)


@pytest.fixture(autouse=True)
def _remove_pods(rkt):
    yield
    remove_pods(rkt)


def app_tree(rkt, uuid: str, app: str = "inspect") -> Path:
    return rkt.pod_dir(uuid) / "appsinfo" / app / "rootfs"


def store_trees(rkt) -> list:
    return list((rkt.data_dir / "cas" / "tree").glob("*/rootfs"))


def pod_shift(rkt, uuid: str) -> int:
    import json
    options = json.loads((rkt.pod_dir(uuid) / "run-options.json").read_text())
    shift, count = options["privateUsers"].split(":")
    assert int(count) == 65536
    return int(shift)


def uid_map_shift(out: str) -> int:
    fields = line(out, "/proc/self/uid_map:").split()
    assert fields[0] == "0" and fields[2] == "65536", out
    return int(fields[1])


# ---- --no-overlay ----

@pytest.mark.parametrize("flavor", ["fly", "nspawn"])
def test_no_overlay_copies_the_tree(rkt, build_dir, inspect_image, flavor):
    require_root()
    require_stage1(build_dir, flavor)
    res, uuid = rkt.run_pod(f"--stage1-name={flavor}", COPY, inspect_image.arg, "--",
                            "--write-file=/made-by-app", "--content=hello")
    res.expect(0)
    tree = app_tree(rkt, uuid)
    assert tree.is_dir() and not tree.is_symlink(), "the pod has its own copy of the tree"
    assert (tree / "made-by-app").read_text() == "hello"
    assert (tree / "inspect").stat().st_uid == 0, "owners are kept without --private-users"
    [store] = store_trees(rkt)
    assert (store / "inspect").is_file() and not (store / "made-by-app").exists(), \
        "the store's tree is untouched"
    assert not (rkt.pod_dir(uuid) / "private-users-prepared").exists()
    rkt.run("gc", "--grace-period=0s").expect(0)
    assert rkt.pod_dir(uuid) is None, "gc removes the pod and its copy"
    assert (store / "inspect").is_file()


def test_no_overlay_refused_by_kvm(rkt, build_dir, inspect_image):
    require_stage1(build_dir, "kvm")
    res = rkt.run("run", "--stage1=kvm", COPY, inspect_image.arg)
    assert res.code == 254, repr(res)
    assert "--no-overlay is not supported by the kvm stage1" in res.err, repr(res)
    assert not list((rkt.data_dir / "pods").glob("*/*")), "refused before any pod exists"


def test_killed_copy_leaves_nothing_gc_cannot_remove(rkt, nspawn, busybox_image):
    proc = rkt.spawn("prepare", NSPAWN, COPY, busybox_image.arg)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if list((rkt.data_dir / "pods").glob("*/*/appsinfo")):
            break
        time.sleep(0.001)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    rkt.run("gc", "--grace-period=0s").expect(0)
    rkt.run("gc", "--grace-period=0s", "--expire-prepared=0s").expect(0)
    assert not list((rkt.data_dir / "pods").glob("*/*")), "gc removed every pod"


# ---- --private-users ----

def test_private_users_needs_no_overlay(rkt, nspawn, inspect_image):
    res = rkt.run("run", NSPAWN, USERNS, inspect_image.arg)
    assert res.code == 254, repr(res)
    assert "cannot use both overlay and user namespace: add --no-overlay" in res.err, repr(res)


@pytest.mark.parametrize("copy", [(COPY,), ()], ids=["no-overlay", "overlay"])
@pytest.mark.parametrize("flags", [("--stage1=kvm",), ("--stage1-name=fly",)])
def test_private_users_refused_by_kvm_and_fly(rkt, build_dir, inspect_image, flags, copy):
    # Said first, whether or not --no-overlay is given: adding it would not help.
    flavor = "kvm" if "kvm" in flags[0] else "fly"
    require_stage1(build_dir, flavor)
    res = rkt.run("run", *flags, USERNS, *copy, inspect_image.arg)
    assert res.code == 254, repr(res)
    assert f"--private-users is not supported by the {flavor} stage1" in res.err, repr(res)
    assert len(res.err.strip().splitlines()) == 1, repr(res)


def test_private_users_root_is_shifted(rkt, userns, inspect_image):
    res, uuid = rkt.run_pod(NSPAWN, COPY, USERNS, inspect_image.arg, "--", "--print-user",
                            "--read-file=/proc/self/uid_map", "--write-file=/made-by-app",
                            "--content=x", "--stat-file=/inspect", "--stat-file=/etc/hostname",
                            "--read-file=/etc/hosts")
    res.expect(0)
    shift = pod_shift(rkt, uuid)
    assert shift > 0 and shift % 65536 == 0 and shift >> 16 <= 0x7FFF
    assert "uid=0 euid=0 gid=0 egid=0" in res.out, repr(res)
    assert uid_map_shift(res.out) == shift
    assert "/inspect: mode: -rwxr-xr-x uid: 0 gid: 0" in res.out, "the tree is the pod's root's"
    assert "/etc/hostname: mode: -rw-r--r-- uid: 0 gid: 0" in res.out
    assert f"rkt-{uuid}" in res.out, "the pod's /etc/hosts is readable"
    tree = app_tree(rkt, uuid)
    made = (tree / "made-by-app").stat()
    assert (made.st_uid, made.st_gid) == (shift, shift)
    assert (tree / "inspect").stat().st_uid == shift
    assert (rkt.pod_dir(uuid) / "private-users-prepared").exists()
    [store] = store_trees(rkt)
    assert (store / "inspect").stat().st_uid == 0, "the store's tree is not shifted"
    assert rkt.status(uuid)["app-inspect"] == "0"


def test_private_users_keeps_the_isolation(rkt, userns, inspect_image):
    res, uuid = rkt.run_pod(NSPAWN, COPY, USERNS, inspect_image.arg, "--", "--print-caps-pid=0",
                            "--print-seccomp", "--print-no-new-privs", "--print-hostname",
                            "--stat-file=/sys/firmware", "--stat-file=/proc/timer_list",
                            "--write-file=/proc/sys/kernel/hostname", "--content=x")
    assert line(res.out, "Bounding set:") == DEFAULT_CAPS, repr(res)
    assert line(res.out, "Seccomp:") == "2"
    assert line(res.out, "no_new_privs:") == "1"
    assert line(res.out, "Hostname:") == f"rkt-{uuid}"
    assert "/sys/firmware: mode: d---------" in res.out, repr(res)
    assert "/proc/timer_list: mode: ----------" in res.out, repr(res)
    assert "read-only file system" in (res.out + res.err).lower(), repr(res)


def test_private_users_user_and_volumes(rkt, userns, busybox_image, tmp_path):
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "file").write_text("host content\n")
    res, uuid = rkt.run_pod(
        NSPAWN, COPY, USERNS,
        "--volume=data,kind=empty,uid=1000,gid=1000,mode=0700",
        f"--volume=host,kind=host,source={host}",
        busybox_image.arg, "--exec=/inspect", "--user=1000", "--group=1000",
        "--mount=volume=data,target=/data", "--mount=volume=host,target=/host", "--",
        "--print-user", "--write-file=/data/f", "--content=from the pod", "--stat-file=/data",
        "--stat-file=/host/file", "--read-file=/host/file")
    res.expect(0)
    shift = pod_shift(rkt, uuid)
    assert "uid=1000 euid=1000 gid=1000 egid=1000" in res.out, repr(res)
    assert "/data: mode: drwx------ uid: 1000 gid: 1000" in res.out, repr(res)
    made = (rkt.pod_dir(uuid) / "sharedVolumes" / "data" / "f").stat()
    assert (made.st_uid, made.st_gid) == (shift + 1000, shift + 1000)
    # Host volumes are not shifted: the host's root is nobody in the pod.
    assert "/host/file: mode: -rw-r--r-- uid: 65534 gid: 65534" in res.out, repr(res)
    assert "host content" in res.out
    assert (host / "file").stat().st_uid == 0


def test_private_users_enter_stop_gc(rkt, userns, busybox_image):
    proc, uuid = rkt.spawn_pod(NSPAWN, COPY, USERNS, busybox_image.arg, "--exec=/inspect",
                               "--user=1000", "--group=1000", "--", "--silent-sigterm",
                               "--sleep=-1")
    shift = pod_shift(rkt, uuid)
    init = int((rkt.pod_dir(uuid) / "pid").read_text())
    assert os.stat(f"/proc/{init}").st_uid == shift, "the pod init is the pod's root"
    res = rkt.run("enter", uuid, "/inspect", "--print-user", "--read-file=/proc/self/uid_map",
                  "--print-caps-pid=0", "--print-seccomp", "--write-file=/tmp/by-enter",
                  "--content=x")
    res.expect(0)
    assert "uid=1000 euid=1000" in res.out, repr(res)
    assert uid_map_shift(res.out) == shift
    assert line(res.out, "Bounding set:") == DEFAULT_CAPS
    assert line(res.out, "Effective set:") == ""
    assert line(res.out, "Seccomp:") == "2"
    assert (app_tree(rkt, uuid, "busybox") / "tmp" / "by-enter").stat().st_uid == shift + 1000
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["app-busybox"] == "0", status
    rkt.run("rm", uuid).expect(0)
    assert rkt.pod_dir(uuid) is None, "rm removes the pod's shifted files"


def test_private_users_run_prepared(rkt, userns, inspect_image):
    prep = rkt.run("prepare", "--quiet", NSPAWN, COPY, USERNS, inspect_image.arg, "--",
                   "--read-file=/proc/self/uid_map")
    prep.expect(0)
    uuid = prep.out.strip().splitlines()[-1]
    shift = pod_shift(rkt, uuid)
    res = rkt.run("run-prepared", uuid)
    res.expect(0)
    assert uid_map_shift(res.out) == shift


def test_private_users_interactive(rkt, userns, busybox_image):
    child = rkt.spawn_pty("run", NSPAWN, COPY, USERNS, "--interactive", busybox_image.arg,
                          "--exec=/inspect", "--", "--check-tty", "--read-stdin")
    child.expect("stdin is a terminal")
    child.expect("Enter text:")
    child.send("hello\n")
    assert child.wait() == 0, child.output
