"""How the kvm stage1 confines a pod's VMM (docs/isolation.md, "VMM confinement"), seen from the
host while the pod runs: its own user, no capabilities (or the three 9p needs), no_new_privs,
seccomp filters, namespaces of its own, a root holding only what it needs, rlimits, the pod's
cgroups. Then what a guest can make the host write: setuid files and device nodes on a host
volume (never), the console and the apps' logs (bounded); and gc after a run process killed
with SIGKILL at various points. Tests taking `engine` run with QEMU here and with the built-in
VMM in the KVM test host (test_kvm_builtin.py). Needs root, the guest kernel, guest-init and
QEMU; skipped with the reason otherwise."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from stage1_pods import STAGE1S, spawn_pod
from kvm_pods import _kvm, _no_leftovers, engine  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

QEMU = STAGE1S["kvm-qemu"]
FIRST_VMM_ID = 0x80000000
VMM_ID_SLOTS = 65536
VMM_ID_LOCKS = Path("/run/rkt/vmm-ids")
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER = 0, 1, 3
NAMESPACES = ("mnt", "pid", "ipc", "uts", "net", "cgroup")
# What QEMU's root may hold: its own files and the VM's (the /bin and /lib entries are links,
# or read-only binds where /usr is not merged).
QEMU_ROOT = {"usr", "etc", "vm", "dev", "proc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}



# ---- looking at a process from the host ----

def proc_status(pid: int) -> dict:
    fields = {}
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = text.partition(":")
        fields[key] = value.strip()
    return fields


def children_of(pid: int) -> list:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if proc_status(int(entry.name)).get("PPid") == str(pid):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def vmm_of(rkt, uuid: str) -> int:
    """The pid of the pod's VMM: the one child of its run process (the pod's pid)."""
    run_pid = int((rkt.pod_dir(uuid) / "pid").read_text())
    deadline = time.monotonic() + 30
    while not (kids := children_of(run_pid)):
        assert time.monotonic() < deadline, "the pod's run process has no VMM child"
        time.sleep(0.05)
    assert len(kids) == 1, kids
    return kids[0]


def mounts(pid: int) -> dict:
    """Mount point -> (per-mount options, file system type), as the process sees them."""
    found = {}
    for text in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = text.split()
        sep = fields.index("-")
        found[fields[4]] = (set(fields[5].split(",")), fields[sep + 1])
    return found


def limits(pid: int) -> dict:
    found = {}
    for text in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name, soft = text[:26].strip(), text[26:47].strip()
        found[name] = soft
    return found


def caps(fields: dict, which: str) -> int:
    return int(fields[which], 16)


def assert_confined(rkt, uuid: str, engine, capabilities: int = 0, volumes: bool = False):
    """Every property of the VMM's jail, for a pod that is running."""
    run_pid = int((rkt.pod_dir(uuid) / "pid").read_text())
    vmm = vmm_of(rkt, uuid)
    st = proc_status(vmm)
    uids, gids = st["Uid"].split(), st["Gid"].split()
    # A user of its own, never root: one id for real, effective, saved and file system ids.
    assert len(set(uids)) == 1 and len(set(gids)) == 1, st
    assert FIRST_VMM_ID <= int(uids[0]) < FIRST_VMM_ID + VMM_ID_SLOTS, st
    assert gids[0] == uids[0] and st["Groups"] == "", st
    for which in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert caps(st, which) == capabilities, (which, st)
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    threads = [proc_status(int(t.name)) for t in Path(f"/proc/{vmm}/task").iterdir()]
    if engine.builtin_vmm:
        # rkt's filter on the process; each VMM thread adds its own allow-list.
        assert int(st["Seccomp_filters"]) >= 1, st
        assert any(int(t["Seccomp_filters"]) >= 2 for t in threads), threads
    else:
        assert int(st["Seccomp_filters"]) >= 2, st  # rkt's, then QEMU's -sandbox
    for t in threads:
        assert t["NoNewPrivs"] == "1" and caps(t, "CapEff") == capabilities, t
    # PID 1 of a PID namespace of its own; other namespaces of its own too, but the user
    # namespace and the cgroups of the run process (whatever bounds rkt run bounds the VMM).
    assert st["NSpid"].split()[-1] == "1" and len(st["NSpid"].split()) >= 2, st
    for ns in NAMESPACES:
        assert os.readlink(f"/proc/{vmm}/ns/{ns}") != os.readlink(f"/proc/{run_pid}/ns/{ns}"), ns
    assert os.readlink(f"/proc/{vmm}/ns/user") == os.readlink(f"/proc/{run_pid}/ns/user")
    assert Path(f"/proc/{vmm}/cgroup").read_text() == Path(f"/proc/{run_pid}/cgroup").read_text()
    # Its root: a read-only tmpfs holding only what it needs.
    seen = mounts(vmm)
    root_opts, root_fs = seen["/"]
    assert root_fs == "tmpfs" and {"ro", "nosuid", "nodev"} <= root_opts, seen
    root_entries = set(os.listdir(f"/proc/{vmm}/root"))
    if engine.builtin_vmm:
        assert list(seen) == ["/"] and root_entries == set(), (seen, root_entries)
    else:
        assert root_entries <= QEMU_ROOT, root_entries
        for point, (opts, fs_type) in seen.items():
            assert "nosuid" in opts, (point, opts)
            top = point.split("/")[1] if point != "/" else ""
            assert top in QEMU_ROOT | {""}, point
            if point.startswith("/vm/share-"):
                assert {"nodev", "noexec"} <= opts, (point, opts)
            elif point == "/proc":
                assert fs_type == "proc" and {"nodev", "noexec"} <= opts, opts
            elif point == "/dev":
                assert "ro" in opts and "noexec" in opts, opts
            else:
                assert {"ro", "nodev"} <= opts, (point, opts)
            if point.startswith("/vm/") and not point.startswith("/vm/share-"):
                assert "noexec" in opts, (point, opts)
        # /dev: null and urandom (and kvm with KVM), nothing else.
        assert set(os.listdir(f"/proc/{vmm}/root/dev")) <= {"null", "urandom", "kvm"}
        # The app disks are not in its root: it holds them open, handed over.
        held = [os.readlink(f"/proc/{vmm}/fd/{fd}") for fd in os.listdir(f"/proc/{vmm}/fd")]
        assert any("erofs" in h for h in held), held
        env = Path(f"/proc/{vmm}/environ").read_bytes().split(b"\0")
        assert [e for e in env if e] == [f"RKT_POD_DIR={rkt.pod_dir(uuid)}".encode()], env
    lim = limits(vmm)
    assert lim["Max core file size"] == "0", lim
    assert lim["Max open files"] != "unlimited" and int(lim["Max open files"]) <= 4096, lim
    assert lim["Max processes"] != "unlimited" and int(lim["Max processes"]) <= 1024, lim
    if not volumes:
        assert lim["Max file size"] == "0", lim  # it writes no file at all
    return vmm, int(uids[0])


def stop(rkt, proc, uuid):
    rkt.run("stop", uuid, timeout=120).expect(0)
    proc.communicate(timeout=120)


# ---- the jail, seen from the host ----

def test_the_vmm_runs_jailed(rkt, engine, inspect_image):
    proc, uuid = spawn_pod(rkt, engine, inspect_image, "--sleep=-1")
    assert_confined(rkt, uuid, engine)
    stop(rkt, proc, uuid)
    assert rkt.status(uuid)["app-inspect"] == "0"


def test_each_pod_has_a_vmm_user_of_its_own(rkt, engine, inspect_image):
    first, uuid1 = spawn_pod(rkt, engine, inspect_image, "--sleep=-1")
    second, uuid2 = spawn_pod(rkt, engine, inspect_image, "--sleep=-1")
    uid1 = proc_status(vmm_of(rkt, uuid1))["Uid"].split()[0]
    uid2 = proc_status(vmm_of(rkt, uuid2))["Uid"].split()[0]
    assert uid1 != uid2
    # The id is held (an flock) while the pod runs.
    slot = VMM_ID_LOCKS / str(int(uid1) - FIRST_VMM_ID)
    with open(slot) as f:
        with pytest.raises(BlockingIOError):
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    stop(rkt, first, uuid1)
    stop(rkt, second, uuid2)


def test_qemu_with_host_volumes_keeps_only_what_9p_needs(rkt, busybox_image, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    proc, uuid = spawn_pod(rkt, QEMU, busybox_image, "-c", "sleep 1000",
                           flags=("--exec=/bin/sh", f"--volume=rw,kind=host,source={rw}",
                                  f"--volume=ro,kind=host,source={ro},readOnly=true",
                                  "--mount=volume=rw,target=/rw", "--mount=volume=ro,target=/ro"))
    want = (1 << CAP_CHOWN) | (1 << CAP_DAC_OVERRIDE) | (1 << CAP_FOWNER)
    vmm, _ = assert_confined(rkt, uuid, QEMU, capabilities=want, volumes=True)
    shares = {p: o for p, (o, _) in mounts(vmm).items() if p.startswith("/vm/share-")}
    assert len(shares) == 2, shares
    assert sorted("ro" in o for o in shares.values()) == [False, True], shares
    stop(rkt, proc, uuid)


# ---- host volumes: what the guest can make the host write ----

PLANT = """
cd /d
cp /bin/busybox suid && chmod 4755 suid; echo "chmod 4755: $?"
chmod u+s,g+s suid; echo "chmod u+s: $?"
cp /bin/busybox sgid && chown 0:0 sgid && chmod 2755 sgid; echo "chmod 2755: $?"
install -m 4755 /bin/busybox installed; echo "install -m 4755: $?"
mkdir -m 2775 setgid-dir; echo "mkdir -m 2775: $?"
mknod null c 1 3; echo "mknod c: $?"
mknod loop b 7 0; echo "mknod b: $?"
echo data > plain && chown 1000:1001 plain && chmod 640 plain; echo "plain: $?"
mkdir sub && echo nested > sub/file; echo "sub: $?"
ls -la /d
"""


def test_a_root_app_cannot_plant_setuid_files_or_devices_on_a_host_volume(rkt, busybox_image,
                                                                         tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    res, uuid = rkt.run_pod(QEMU.flag, "--exec=/bin/sh", f"--volume=d,kind=host,source={vol}",
                            "--mount=volume=d,target=/d", busybox_image.arg, "--", "-c", PLANT,
                            timeout=300)
    res.expect(0)
    assert "chmod 4755: 1" in res.out and "mknod c: 1" in res.out, repr(res)
    for entry in vol.rglob("*"):
        st = os.lstat(entry)
        # Nothing the host would run with raised privileges, no device the host would open.
        assert not stat.S_ISCHR(st.st_mode) and not stat.S_ISBLK(st.st_mode), entry
        if stat.S_ISREG(st.st_mode):
            assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (entry, oct(st.st_mode))
    # What users expect of a host volume still holds: the owners and modes the app gave.
    plain = os.lstat(vol / "plain")
    assert (plain.st_uid, plain.st_gid, stat.S_IMODE(plain.st_mode)) == (1000, 1001, 0o640)
    assert (vol / "plain").read_text() == "data\n"
    assert (vol / "sub" / "file").read_text() == "nested\n"
    suid = os.lstat(vol / "suid")
    assert suid.st_uid == 0 and stat.S_IMODE(suid.st_mode) == 0o755, oct(suid.st_mode)


def test_a_pod_with_volumes_two_apps_enter_and_stop(rkt, busybox_image, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_text("host data\n")
    proc, uuid = rkt.spawn_pod(
        QEMU.flag, f"--volume=d,kind=host,source={vol}",
        busybox_image.arg, "--name=first", "--exec=/bin/sh", "--mount=volume=d,target=/d", "--",
        "-c", "echo from-first > /d/first; sleep 1000", "---",
        busybox_image.arg, "--name=second", "--exec=/bin/sh", "--mount=volume=d,target=/d", "--",
        "-c", "sleep 1000", timeout=120)
    res = rkt.run("enter", "--app=second", uuid, "/bin/cat", "/d/from-host")
    assert res.code == 0 and res.out == "host data\n", repr(res)
    deadline = time.monotonic() + 60
    while not (vol / "first").exists():
        assert time.monotonic() < deadline, "the first app did not write to the volume"
        time.sleep(0.05)
    res = rkt.run("enter", "--app=first", uuid, "/bin/sh", "-c", "cat /d/first; id -u")
    assert res.code == 0 and res.out == "from-first\n0\n", repr(res)
    stop(rkt, proc, uuid)
    status = rkt.status(uuid)
    assert status["app-first"] == "0" and status["app-second"] == "0", status
    assert (vol / "first").read_text() == "from-first\n"


# ---- the console and the apps' logs are bounded ----

def test_a_console_flood_leaves_bounded_files(rkt, engine, busybox_image):
    limit = 64 * 1024
    # The device allow-list keeps an app off the console; one given every privilege
    # (--insecure-options=all-run) can leave its cgroup for the guest's root cgroup, where no
    # device program applies, make the console's node and flood it. The host's files still
    # stay bounded.
    script = ("mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && echo $$ > /tmp/cg/cgroup.procs"
              " && mknod /dev/cons c 5 1 && head -c 400000 /dev/zero | tr '\\0' x > /dev/cons;"
              " echo done")
    rkt.insecure_options = "image,all-run"
    res, uuid = rkt.run_pod(engine.flag, "--exec=/bin/sh", busybox_image.arg, "--", "-c", script,
                            env={"RKT_KVM_LOG_LIMIT": str(limit)}, timeout=600)
    res.expect(0)
    pod = rkt.pod_dir(uuid)
    current, previous = pod / "console.log", pod / "console.log.1"
    assert current.stat().st_size <= limit and previous.stat().st_size <= limit
    assert previous.stat().st_size > 0, "the flood never reached the limit"
    assert "xxxx" in previous.read_text(errors="replace")


def test_an_app_flooding_stdout_leaves_bounded_logs(rkt, engine, busybox_image):
    limit = 8 << 20  # rkt's default
    total = limit + (4 << 20)
    res, uuid = rkt.run_pod(engine.flag, "--exec=/bin/sh", busybox_image.arg, "--", "-c",
                            f"head -c {total} /dev/zero | tr '\\0' y", timeout=600)
    res.expect(0)
    assert len(res.out) == total  # rkt run's own stdout gets everything
    logs = rkt.pod_dir(uuid) / "logs"
    current, previous = logs / "busybox.log", logs / "busybox.log.1"
    assert current.stat().st_size <= limit and previous.stat().st_size <= limit
    assert current.stat().st_size + previous.stat().st_size >= total - limit
    assert set(current.read_text()) == {"y"}


def test_log_limit_knob_only_lowers_the_bound(rkt, inspect_image):
    res, _ = rkt.run_pod(QEMU.flag, inspect_image.arg, env={"RKT_KVM_LOG_LIMIT": str(1 << 30)})
    assert res.code == 254 and "RKT_KVM_LOG_LIMIT must be a number of bytes" in res.err, repr(res)


# ---- gc after a run process killed with SIGKILL ----

def wait_for(path: Path, proc, what: str):
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, f"rkt run ended: {proc.communicate()}"
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def gc_cleanly(rkt, *uuids: str) -> str:
    """`rkt gc` twice (the first moves dead pods to garbage, the second removes them): every
    stage1 gc succeeds and the pods are gone. Returns what gc printed."""
    err = ""
    for _ in range(2):
        res = rkt.run("gc", "--grace-period=0s")
        assert res.code == 0, repr(res)
        assert "stage1 gc" not in res.err and "still running" not in res.err, repr(res)
        err += res.err
    for uuid in uuids:
        assert rkt.pod_dir(uuid) is None, uuid
    return err


def start_time(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2:].split()[19])  # field 22


def record_as_vmm(pod: Path, pid: int, uid: int, start: int = 0):
    (pod / "vmm.json").write_text(json.dumps(
        {"pid": pid, "startTime": start or start_time(pid), "uid": uid}))


def leftover_qemu(uid: int) -> subprocess.Popen:
    """A real QEMU (no guest) running as `uid`."""
    return subprocess.Popen(
        ["qemu-system-x86_64", "-M", "none", "-display", "none", "-monitor", "none",
         "-nodefaults", "-S"], user=uid, group=uid, extra_groups=[],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def assert_vmm_gone_and_id_free(record: dict):
    deadline = time.monotonic() + 30
    while Path(f"/proc/{record['pid']}").exists():
        # A zombie until its parent (gone) is replaced by init's reaping.
        if proc_status(record["pid"]).get("State", "").startswith("Z"):
            break
        assert time.monotonic() < deadline, "the VMM outlived its run process"
        time.sleep(0.05)
    slot = VMM_ID_LOCKS / str(record["uid"] - FIRST_VMM_ID)
    with open(slot) as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
        fcntl.flock(f, fcntl.LOCK_UN)


@pytest.mark.parametrize("point", ["booting", "running", "stopping"])
def test_gc_after_the_run_process_was_killed(rkt, engine, busybox_image, point):
    if point == "booting":
        # The guest never gets ready: the run process is killed while it waits.
        proc = rkt.spawn("run", engine.flag, busybox_image.arg,
                         env={"RKT_HYPERVISOR_EXTRA_KERNEL_PARAMS": "rdinit=/none panic=0"})
        pods = rkt.data_dir / "pods" / "run"
        deadline = time.monotonic() + 60
        while not list(pods.glob("*/console.log")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no VM started"
            time.sleep(0.05)
        pod = list(pods.glob("*/console.log"))[0].parent
        uuid, run_pid = pod.name, proc.pid  # stage0 execs the stage1's run
        wait_for(pod / "vmm.json", proc, "no VMM started")
    else:
        proc, uuid = spawn_pod(rkt, engine, busybox_image, "-c",
                               "trap '' TERM; echo ignoring; sleep 1000 & wait",
                               flags=("--exec=/bin/sh",))
        pod = rkt.pod_dir(uuid)
        run_pid = int((pod / "pid").read_text())
        if point == "stopping":
            log = pod / "logs" / "busybox.log"
            deadline = time.monotonic() + 60
            while not log.exists() or "ignoring" not in log.read_text():
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.05)
            stopper = rkt.spawn("stop", uuid)
            time.sleep(1)  # the stop is under way: the app ignores SIGTERM for 10 s
            assert stopper.poll() is None
    record_file = pod / "vmm.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else None
    os.kill(run_pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    gc_cleanly(rkt, uuid)
    assert record is not None, "the pod's VMM was not recorded"
    assert_vmm_gone_and_id_free(record)


def test_gc_ends_a_vmm_that_outlived_its_run_process(rkt, inspect_image):
    # A VMM cannot outlive its run process (parent-death signal): make one that did, a real
    # QEMU under a VMM user, recorded as the pod's.
    res, uuid = rkt.run_pod(QEMU.flag, inspect_image.arg)
    res.expect(0)
    vmm_id = FIRST_VMM_ID + VMM_ID_SLOTS - 1
    leftover = leftover_qemu(vmm_id)
    try:
        record_as_vmm(rkt.pod_dir(uuid), leftover.pid, vmm_id)
        err = gc_cleanly(rkt, uuid)
        assert leftover.wait(timeout=30) == -signal.SIGKILL
        assert f"ending the VMM (pid {leftover.pid})" in err, err
    finally:
        leftover.kill()
        leftover.wait()


def test_gc_never_ends_what_is_not_the_pods_vmm(rkt, inspect_image):
    # A root process recorded as a pod's VMM, and a VMM user's process recorded with another
    # start time (its pid was used again): gc touches neither.
    uuids = []
    for _ in range(2):
        res, uuid = rkt.run_pod(QEMU.flag, inspect_image.arg)
        res.expect(0)
        uuids.append(uuid)
    vmm_id = FIRST_VMM_ID + VMM_ID_SLOTS - 1
    bystander = subprocess.Popen(["sleep", "1000"])
    other = leftover_qemu(vmm_id)
    try:
        record_as_vmm(rkt.pod_dir(uuids[0]), bystander.pid, 0)
        record_as_vmm(rkt.pod_dir(uuids[1]), other.pid, vmm_id, start_time(other.pid) + 1)
        gc_cleanly(rkt, *uuids)
        assert bystander.poll() is None and other.poll() is None, "gc killed a stranger"
    finally:
        for p in (bystander, other):
            p.kill()
            p.wait()
