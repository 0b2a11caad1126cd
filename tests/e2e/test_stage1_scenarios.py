"""rkt's scenarios (reference rkt.md §7) that every isolating stage1 must pass, run once per
stage1: nspawn (namespaces), kvm with the QEMU engine (a VM per pod; TCG on hosts whose KVM
cannot run a Linux guest) and kvm with the built-in VMM (where KVM runs Linux guests: inside the
KVM test host, test_kvm_builtin.py). Exit codes, hostname and /etc/hosts, volumes, capabilities, seccomp,
masked paths, no_new_privs, user/group, stop and enter. Needs root; what a stage1 needs and this
machine lacks skips with the reason. Stage1-specific tests: test_nspawn.py, test_kvm.py."""

from __future__ import annotations

import json

import pytest

from stage1_pods import STAGE1S, line, remove_pods, run, spawn_pod

DEFAULT_CAPS = ("cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,"
                "cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,"
                "cap_audit_write,cap_setfcap")


@pytest.fixture(params=sorted(STAGE1S))
def stage1(request, build_dir):
    s = STAGE1S[request.param]
    s.require(build_dir)
    return s


@pytest.fixture(autouse=True)
def _remove_pods(request, rkt):
    yield
    remove_pods(rkt)


# ---- 3, 4: exit codes and statuses ----

@pytest.mark.parametrize("code", [0, 1, 2])
def test_exit_code_and_status(rkt, stage1, inspect_image, code):
    res, uuid = run(rkt, stage1, inspect_image, "--print-msg=Hello", f"--exit-code={code}")
    assert res.code == code, repr(res)
    assert "Hello" in res.out
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["exited"] == "true"
    assert status["app-inspect"] == str(code)


def test_several_apps_first_failure_wins(rkt, stage1, inspect_image):
    res, uuid = rkt.run_pod(stage1.flag,
                            inspect_image.arg, "--name=zero", "--", "--sleep=1", "--exit-code=0",
                            "---",
                            inspect_image.arg, "--name=five", "--", "--sleep=1", "--exit-code=5",
                            "---",
                            inspect_image.arg, "--name=six", "--", "--sleep=30", "--exit-code=6")
    assert res.code == 5, repr(res)
    status = rkt.status(uuid)
    assert [status[f"app-{n}"] for n in ("zero", "five", "six")] == ["0", "5", "0"]


# ---- 13, 14: hostname and /etc/hosts ----

def test_hostname(rkt, stage1, inspect_image):
    res, uuid = run(rkt, stage1, inspect_image, "--print-hostname", "--stat-file=/etc/hostname")
    res.expect(0)
    assert line(res.out, "Hostname:") == f"rkt-{uuid}"
    assert "mode: -rw-r--r--" in res.out
    prep = rkt.run("prepare", "--quiet", stage1.flag, inspect_image.arg, "--", "--print-hostname")
    prep.expect(0)
    uuid = prep.out.strip().splitlines()[-1]
    res = rkt.run("run-prepared", "--hostname=test-hostname", uuid)
    res.expect(0)
    assert line(res.out, "Hostname:") == "test-hostname"


def test_etc_hosts(rkt, stage1, inspect_image):
    res, uuid = run(rkt, stage1, inspect_image, "--read-file=/etc/hosts")
    res.expect(0)
    assert (f"127.0.0.1 localhost localhost.domain localhost4 localhost4.localdomain4 "
            f"rkt-{uuid}") in res.out
    res, _ = run(rkt, stage1, inspect_image, "--read-file=/etc/hosts",
                 flags=("--hosts-entry=128.66.0.99=host1",))
    assert "128.66.0.99 host1" in res.out.splitlines(), repr(res)


# ---- 15: /etc/resolv.conf from --dns, --dns-search, --dns-opt, --dns-domain ----

def test_resolv_conf_from_dns_flags(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--read-file=/etc/resolv.conf",
                 flags=("--net=none", "--dns=128.66.0.53,128.66.0.54",
                        "--dns-search=a.example", "--dns-search=b.example",
                        "--dns-opt=ndots:2,rotate", "--dns-domain=example.com"))
    res.expect(0)
    lines = res.out.splitlines()
    assert "nameserver 128.66.0.53" in lines and "nameserver 128.66.0.54" in lines, repr(res)
    assert "search a.example b.example" in lines, repr(res)
    assert "options ndots:2 rotate" in lines, repr(res)
    assert "domain example.com" in lines, repr(res)
    # Without --dns, rkt wrote a file of just the other lines.
    res, _ = run(rkt, stage1, inspect_image, "--read-file=/etc/resolv.conf",
                 flags=("--net=none", "--dns-search=only.example"))
    res.expect(0)
    assert "search only.example" in res.out.splitlines(), repr(res)
    assert "nameserver" not in res.out, repr(res)


# ---- 23: volumes ----

def test_host_volume(rkt, stage1, inspect_image, tmp_path):
    if not stage1.host_volumes:
        pytest.skip(f"{stage1.name} has no host volumes yet (test_kvm.py checks its error)")
    src = tmp_path / "hostdir"
    src.mkdir()
    (src / "file").write_text("host content\n")
    vol = f"--volume=dir1,kind=host,source={src}"
    res, _ = run(rkt, stage1, inspect_image, "--read-file=/dir1/file", "--write-file=/dir1/new",
                 "--content=from the pod", flags=(vol, "--mount=volume=dir1,target=/dir1"))
    res.expect(0)
    assert "host content" in res.out
    assert (src / "new").read_text() == "from the pod"

    res, _ = run(rkt, stage1, inspect_image, "--write-file=/dir1/file", "--content=x",
                 flags=(vol + ",readOnly=true", "--mount=volume=dir1,target=/dir1"))
    assert res.code != 0 and "read-only file system" in (res.out + res.err).lower(), repr(res)
    assert (src / "file").read_text() == "host content\n"

    res, _ = run(rkt, stage1, inspect_image, flags=(
        "--volume=dir1,kind=host,source=/this/directory/does/not/exist",
        "--mount=volume=dir1,target=/dir1"))
    assert res.code != 0 and "/this/directory/does/not/exist" in res.err, repr(res)


def test_mount_target_parents_and_empty_volume(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--stat-file=/a", "--stat-file=/a/b",
                 "--write-file=/a/b/c/f", "--content=x", "--stat-file=/a/b/c",
                 flags=("--volume=e,kind=empty", "--mount=volume=e,target=/a/b/c"))
    res.expect(0)
    assert res.out.count("mode: drwxr-xr-x") == 3, repr(res)


def test_empty_volume_mode_and_owner(rkt, stage1, inspect_image):
    # One volume, two apps mounting it on different paths: both see the same root, with the
    # volume's mode and owner (rkt's --volume kind=empty,mode=,uid=,gid=).
    res, _ = rkt.run_pod(stage1.flag,
                         "--volume=data,kind=empty,mode=0700,uid=1000,gid=1000",
                         inspect_image.arg, "--name=one", "--mount=volume=data,target=/data",
                         "--", "--stat-file=/data",
                         "---",
                         inspect_image.arg, "--name=two", "--mount=volume=data,target=/shared",
                         "--", "--stat-file=/shared")
    res.expect(0)
    assert "/data: mode: drwx------ uid: 1000 gid: 1000" in res.out, repr(res)
    assert "/shared: mode: drwx------ uid: 1000 gid: 1000" in res.out, repr(res)



def test_bad_empty_volume_mode_in_the_pod_manifest(rkt, stage1, inspect_image):
    # stage0 checks --volume's mode; a pod manifest's is checked by the stage1, in the same
    # words on every stage1.
    prep = rkt.run("prepare", "--quiet", stage1.flag, "--volume=data,kind=empty,mode=0700",
                   inspect_image.arg, "--mount=volume=data,target=/data")
    prep.expect(0)
    uuid = prep.out.strip().splitlines()[-1]
    pod_file = rkt.data_dir / "pods" / "prepared" / uuid / "pod"
    manifest = json.loads(pod_file.read_text())
    for volume in manifest["volumes"]:
        volume["mode"] = "0abc"
    pod_file.write_text(json.dumps(manifest))
    res = rkt.run("run-prepared", uuid)
    assert res.code != 0, repr(res)
    assert 'volume "data": mode "0abc" is not an octal mode such as 0755' in res.err, repr(res)


# ---- 24: capabilities ----

def test_default_capabilities(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--print-caps-pid=0")
    res.expect(0)
    assert line(res.out, "Bounding set:") == DEFAULT_CAPS
    assert line(res.out, "Effective set:") == DEFAULT_CAPS


def test_caps_retain_and_remove(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--print-caps-pid=0",
                 flags=("--caps-retain=CAP_NET_ADMIN",))
    res.expect(0)
    assert line(res.out, "Bounding set:") == "cap_net_admin"
    res, _ = run(rkt, stage1, inspect_image, "--print-caps-pid=0",
                 flags=("--caps-remove=CAP_CHOWN",))
    res.expect(0)
    assert line(res.out, "Bounding set:") == DEFAULT_CAPS.replace("cap_chown,", "")
    res, _ = run(rkt, stage1, inspect_image,
                 flags=("--caps-retain=CAP_KILL", "--caps-remove=CAP_CHOWN"))
    assert res.code != 0


# ---- 25: seccomp ----

def test_seccomp(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--try-syscall=stat")
    res.expect(0)
    res, _ = run(rkt, stage1, inspect_image, "--try-syscall=stat",
                 flags=("--seccomp=mode=remove,errno=EXFULL,stat,newfstatat,statx",))
    assert "exchange full" in (res.out + res.err).lower(), repr(res)
    res, _ = run(rkt, stage1, inspect_image, "--print-seccomp",
                 flags=("--seccomp=mode=retain,@appc.io/all",))
    assert line(res.out, "Seccomp:") == "0", repr(res)
    rkt.insecure_options = "image,seccomp"
    res, _ = run(rkt, stage1, inspect_image, "--print-seccomp")
    assert line(res.out, "Seccomp:") == "0", repr(res)


# ---- 26: paths ----

def test_masked_paths(rkt, stage1, inspect_image):
    # /proc/timer_list: a masked file that every kernel here has (the guest kernel has no
    # kallsyms or kcore).
    res, _ = run(rkt, stage1, inspect_image, "--stat-file=/sys/firmware",
                 "--stat-file=/proc/timer_list", "--write-file=/proc/sys/kernel/hostname",
                 "--content=x")
    assert "/sys/firmware: mode: d---------" in res.out, repr(res)
    assert "/proc/timer_list: mode: ----------" in res.out, repr(res)
    assert "read-only file system" in (res.out + res.err).lower(), repr(res)
    rkt.insecure_options = "image,paths"
    res, _ = run(rkt, stage1, inspect_image, "--stat-file=/proc/timer_list")
    assert "/proc/timer_list: mode: ----------" not in res.out, repr(res)


def test_no_new_privs(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--print-no-new-privs")
    assert line(res.out, "no_new_privs:") == "1", repr(res)


# ---- environment, user and groups ----

def test_environment(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--print-env=VAR_FROM_MANIFEST",
                 "--print-env=VAR_OTHER")
    res.expect(0)
    assert "VAR_FROM_MANIFEST=manifest" in res.out
    res, _ = run(rkt, stage1, inspect_image, "--print-env=VAR_FROM_MANIFEST",
                 "--print-env=VAR_OTHER",
                 flags=("--set-env=VAR_FROM_MANIFEST=setenv", "--set-env=VAR_OTHER=other"))
    res.expect(0)
    assert "VAR_FROM_MANIFEST=setenv" in res.out and "VAR_OTHER=other" in res.out


def test_user_and_group_from_the_image(rkt, stage1, busybox_image):
    res, _ = run(rkt, stage1, busybox_image, "--print-user", "--print-groups",
                 "--print-env=HOME",
                 flags=("--user=user", "--group=1000", "--exec=/inspect"))
    res.expect(0)
    assert "uid=1000" in res.out and "gid=1000" in res.out
    assert "1001" in line(res.out, "Groups:")
    assert "HOME=/home/user" in res.out


# ---- 28: stop ----

def test_stop(rkt, stage1, inspect_image):
    proc, uuid = spawn_pod(rkt, stage1, inspect_image, "--silent-sigterm", "--sleep=-1")
    res = rkt.run("stop", uuid)
    res.expect(0)
    assert uuid in res.out
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["app-inspect"] == "0"
    again = rkt.run("stop", uuid)
    assert "already stopped" in again.out + again.err, repr(again)


def test_stop_force(rkt, stage1, inspect_image):
    proc, uuid = spawn_pod(rkt, stage1, inspect_image, "--sleep=-1")
    rkt.run("stop", "--force", uuid).expect(0)
    proc.communicate(timeout=60)
    assert rkt.status(uuid)["state"] == "exited"


# ---- enter: the app's isolation, not more ----

def test_enter_keeps_the_apps_isolation(rkt, stage1, busybox_image):
    proc, uuid = spawn_pod(rkt, stage1, busybox_image, "--sleep=-1",
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
    rkt.run("stop", uuid).expect(0)
    proc.communicate(timeout=60)
