"""rkt's scenarios through the real `rkt` with the nspawn stage1 (--stage1-name=nspawn): exit
codes, hostname and /etc/hosts, volumes, capabilities, seccomp, masked paths, namespaces, stop,
enter (with the app's isolation), cgroups and gc. Needs root."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

import harness
from harness import require_root, require_stage1

NSPAWN = "--stage1-name=nspawn"
DEFAULT_CAPS = ("cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,"
                "cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,"
                "cap_audit_write,cap_setfcap")


@pytest.fixture(autouse=True)
def _nspawn(build_dir):
    require_root()
    require_stage1(build_dir, "nspawn")


@pytest.fixture(autouse=True)
def _remove_pods(rkt):
    """`rkt rm` of every pod after the test: it runs the stage1 gc (cgroups) at once, where a
    gc could leave pods within their grace period."""
    yield
    pods = rkt.data_dir / "pods"
    for d in (pods / "run").glob("*"):
        rkt.run("stop", "--force", d.name, timeout=60)
    for d in list(pods.glob("*/*")):
        deadline = time.monotonic() + 30
        while rkt.run("rm", d.name, timeout=60).code != 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # a stopped pod's run process may still hold its lock a moment


def run(rkt, image, *args, flags=()):
    """`rkt run --stage1-name=nspawn FLAGS IMAGE -- ARGS` -> (Result, uuid)."""
    return rkt.run_pod(NSPAWN, *flags, image.arg, *(("--",) + args if args else ()))


def line(out: str, prefix: str) -> str:
    for text in out.splitlines():
        if text.startswith(prefix):
            return text[len(prefix):].strip()
    raise AssertionError(f"no line starting with {prefix!r} in:\n{out}")


def spawn_pod(rkt, image, *args, flags=()):
    return rkt.spawn_pod(NSPAWN, *flags, image.arg, *(("--",) + args if args else ()))


# ---- 3, 4: exit codes and statuses ----

@pytest.mark.parametrize("code", [0, 1, 2])
def test_exit_code_and_status(rkt, inspect_image, code):
    res, uuid = run(rkt, inspect_image, "--print-msg=Hello", f"--exit-code={code}")
    assert res.code == code, repr(res)
    assert "Hello" in res.out
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["exited"] == "true"
    assert status["app-inspect"] == str(code)


def test_several_apps_first_failure_wins(rkt, inspect_image):
    res, uuid = rkt.run_pod(NSPAWN,
                            inspect_image.arg, "--name=zero", "--", "--sleep=1", "--exit-code=0",
                            "---",
                            inspect_image.arg, "--name=five", "--", "--sleep=1", "--exit-code=5",
                            "---",
                            inspect_image.arg, "--name=six", "--", "--sleep=30", "--exit-code=6")
    assert res.code == 5, repr(res)
    status = rkt.status(uuid)
    assert [status[f"app-{n}"] for n in ("zero", "five", "six")] == ["0", "5", "0"]


# ---- 13, 14: hostname and /etc/hosts ----

def test_hostname(rkt, inspect_image):
    res, uuid = run(rkt, inspect_image, "--print-hostname", "--stat-file=/etc/hostname")
    res.expect(0)
    assert line(res.out, "Hostname:") == f"rkt-{uuid}"
    assert "mode: -rw-r--r--" in res.out
    prep = rkt.run("prepare", "--quiet", NSPAWN, inspect_image.arg, "--", "--print-hostname")
    prep.expect(0)
    uuid = prep.out.strip().splitlines()[-1]
    res = rkt.run("run-prepared", "--hostname=test-hostname", uuid)
    res.expect(0)
    assert line(res.out, "Hostname:") == "test-hostname"


def test_etc_hosts(rkt, inspect_image):
    res, uuid = run(rkt, inspect_image, "--read-file=/etc/hosts")
    res.expect(0)
    assert (f"127.0.0.1 localhost localhost.domain localhost4 localhost4.localdomain4 "
            f"rkt-{uuid}") in res.out
    res, _ = run(rkt, inspect_image, "--read-file=/etc/hosts",
                 flags=("--hosts-entry=128.66.0.99=host1",))
    assert "128.66.0.99 host1" in res.out.splitlines(), repr(res)
    res, _ = run(rkt, inspect_image, "--hash-file=/etc/hosts", flags=("--hosts-entry=host",))
    assert hashlib.sha1(Path("/etc/hosts").read_bytes()).hexdigest() in res.out, repr(res)


# ---- 23: volumes ----

def test_host_volume(rkt, inspect_image, tmp_path):
    src = tmp_path / "hostdir"
    src.mkdir()
    (src / "file").write_text("host content\n")
    vol = f"--volume=dir1,kind=host,source={src}"
    res, _ = run(rkt, inspect_image, "--read-file=/dir1/file",
                 flags=(vol, "--mount=volume=dir1,target=/dir1"))
    res.expect(0)
    assert "host content" in res.out

    res, _ = run(rkt, inspect_image, "--write-file=/dir1/file", "--content=x",
                 flags=(vol + ",readOnly=true", "--mount=volume=dir1,target=/dir1"))
    assert res.code != 0 and "read-only file system" in (res.out + res.err).lower(), repr(res)

    res, _ = run(rkt, inspect_image, flags=(
        "--volume=dir1,kind=host,source=/this/directory/does/not/exist",
        "--mount=volume=dir1,target=/dir1"))
    assert res.code != 0 and "/this/directory/does/not/exist" in res.err, repr(res)


def test_mount_target_parents_and_empty_volume(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--stat-file=/a", "--stat-file=/a/b",
                 "--write-file=/a/b/c/f", "--content=x", "--stat-file=/a/b/c",
                 flags=("--volume=e,kind=empty", "--mount=volume=e,target=/a/b/c"))
    res.expect(0)
    assert res.out.count("mode: drwxr-xr-x") == 3, repr(res)


# ---- 24: capabilities ----

def test_default_capabilities(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--print-caps-pid=0")
    res.expect(0)
    assert line(res.out, "Bounding set:") == DEFAULT_CAPS
    assert line(res.out, "Effective set:") == DEFAULT_CAPS


def test_caps_retain_and_remove(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--print-caps-pid=0",
                 flags=("--caps-retain=CAP_NET_ADMIN",))
    res.expect(0)
    assert line(res.out, "Bounding set:") == "cap_net_admin"
    res, _ = run(rkt, inspect_image, "--print-caps-pid=0", flags=("--caps-remove=CAP_CHOWN",))
    res.expect(0)
    assert line(res.out, "Bounding set:") == DEFAULT_CAPS.replace("cap_chown,", "")
    res, _ = run(rkt, inspect_image, flags=("--caps-retain=CAP_KILL", "--caps-remove=CAP_CHOWN"))
    assert res.code != 0


# ---- 25: seccomp ----

def test_seccomp(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--try-syscall=stat")
    res.expect(0)
    res, _ = run(rkt, inspect_image, "--try-syscall=stat",
                 flags=("--seccomp=mode=remove,errno=EXFULL,stat,newfstatat,statx",))
    assert "exchange full" in (res.out + res.err).lower(), repr(res)
    res, _ = run(rkt, inspect_image, "--print-seccomp", flags=("--seccomp=mode=retain,@appc.io/all",))
    assert line(res.out, "Seccomp:") == "0", repr(res)
    rkt.insecure_options = "image,seccomp"
    res, _ = run(rkt, inspect_image, "--print-seccomp")
    assert line(res.out, "Seccomp:") == "0", repr(res)


# ---- 26: paths ----

def test_masked_paths(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--stat-file=/sys/firmware", "--stat-file=/proc/kallsyms",
                 "--write-file=/proc/sys/kernel/hostname", "--content=x")
    assert "/sys/firmware: mode: d---------" in res.out, repr(res)
    assert "/proc/kallsyms: mode: ----------" in res.out, repr(res)
    assert "read-only file system" in (res.out + res.err).lower(), repr(res)
    rkt.insecure_options = "image,paths"
    res, _ = run(rkt, inspect_image, "--stat-file=/proc/kallsyms")
    assert "/proc/kallsyms: mode: ----------" not in res.out, repr(res)


def test_no_new_privs(rkt, inspect_image):
    res, _ = run(rkt, inspect_image, "--print-no-new-privs")
    assert line(res.out, "no_new_privs:") == "1", repr(res)


# ---- user and groups ----

def test_user_and_group_from_the_image(rkt, busybox_image):
    res, _ = run(rkt, busybox_image, flags=("--user=user", "--group=1000", "--exec=/inspect"),
                 *("--print-user", "--print-groups"))
    res.expect(0)
    assert "uid=1000" in res.out and "gid=1000" in res.out
    assert "1001" in line(res.out, "Groups:")


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


# ---- 28: stop ----

def test_stop(rkt, inspect_image):
    proc, uuid = spawn_pod(rkt, inspect_image, "--silent-sigterm", "--sleep=-1")
    res = rkt.run("stop", uuid)
    res.expect(0)
    assert uuid in res.out
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["app-inspect"] == "0"
    again = rkt.run("stop", uuid)
    assert "already stopped" in again.out + again.err, repr(again)


def test_stop_force(rkt, inspect_image):
    proc, uuid = spawn_pod(rkt, inspect_image, "--sleep=-1")
    rkt.run("stop", "--force", uuid).expect(0)
    proc.communicate(timeout=30)
    assert rkt.status(uuid)["state"] == "exited"


# ---- enter: the app's isolation, not more ----

def test_enter_keeps_the_apps_isolation(rkt, busybox_image):
    proc, uuid = spawn_pod(rkt, busybox_image, "--sleep=-1",
                           flags=("--exec=/inspect", "--user=1000", "--group=1000",
                                  "--caps-retain=CAP_NET_RAW"))
    res = rkt.run("enter", uuid, "/inspect", "--print-caps-pid=0", "--print-seccomp",
                  "--print-no-new-privs", "--print-user", "--print-hostname")
    res.expect(0)
    assert line(res.out, "Bounding set:") == "cap_net_raw"
    assert line(res.out, "Effective set:") == "cap_net_raw"
    assert line(res.out, "Seccomp:") == "2"
    assert line(res.out, "no_new_privs:") == "1"
    assert "uid=1000" in res.out
    assert line(res.out, "Hostname:") == f"rkt-{uuid}"
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
