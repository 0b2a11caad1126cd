"""The nspawn stage1 driven directly, without stage0: each test writes a pod directory by hand
(`pod`, `run-options.json`, appsinfo/<app>/rootfs -> a busybox tree), takes the pod lock and
execs the `run` entrypoint with RKT_LOCK_FD, as `rkt run` does. Needs root and busybox-static.

    cmake --build build --target nspawn_run nspawn_stop nspawn_enter nspawn_gc -j2
    sudo /usr/bin/python3 -m pytest tests/e2e/test_nspawn_direct.py
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("RKT_BUILD_DIR") or REPO / "build").resolve()
STAGE1 = BUILD / "lib" / "rkt" / "stage1" / "nspawn"
BUSYBOX = Path("/bin/busybox")
APPLETS = ["sh", "cat", "echo", "sleep", "ls", "stat", "id", "hostname", "mkdir", "touch",
           "readlink", "true", "false", "env", "grep", "head", "wc", "kill", "sha1sum", "ps",
           "pwd", "test", "rm", "sync", "tr"]
DEFAULT_CAPS = 0x00000000a80425fb
TIMEOUT = 60

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the nspawn stage1 needs root"),
    pytest.mark.skipif(not os.access(STAGE1 / "run", os.X_OK),
                       reason=f"nspawn stage1 not built: {STAGE1}/run is missing"),
    pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox not found (busybox-static)"),
]


def make_tree(root: Path) -> Path:
    """A busybox userland with /etc/passwd (root, user 1000, nobody) and /etc/group."""
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "user:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nuser:x:1000:\nextra:x:1001:user\n")
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    return root


def app(name: str, *exec_args: str, user: str = "0", group: str = "0",
        isolators: list | None = None, mounts: list | None = None,
        env: dict | None = None, mount_points: list | None = None,
        read_only_rootfs: bool = False) -> dict:
    spec = {"exec": list(exec_args), "user": user, "group": group,
            "environment": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    if isolators:
        spec["isolators"] = [{"name": n, "value": v} for n, v in isolators]
    if mount_points:
        spec["mountPoints"] = mount_points
    out = {"name": name, "image": {"name": "example.com/busybox", "id": "sha256-" + "0" * 64},
           "app": spec, "mounts": mounts or [], "annotations": []}
    if read_only_rootfs:
        out["readOnlyRootFS"] = True
    return out


class PodDir:
    """A pod directory made by hand, as stage0 would leave it before exec'ing stage1 run."""

    def __init__(self, base: Path, tree: Path, apps: list, volumes: list | None = None,
                 options: dict | None = None):
        self.uuid = str(uuidlib.uuid4())
        self.dir = base / "pods" / "run" / self.uuid
        self.dir.mkdir(parents=True)
        manifest = {"acVersion": "0.8.11", "acKind": "PodManifest", "apps": apps,
                    "volumes": volumes or [], "isolators": [], "annotations": [], "ports": []}
        (self.dir / "pod").write_text(json.dumps(manifest))
        (self.dir / "run-options.json").write_text(json.dumps(options or {}))
        for a in apps:
            info = self.dir / "appsinfo" / a["name"]
            info.mkdir(parents=True)
            (info / "rootfs").symlink_to(tree)
        self.proc: subprocess.Popen | None = None

    def _lock(self) -> int:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.set_inheritable(fd, True)
        return fd

    def entry(self, name: str, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([str(STAGE1 / name), *args], cwd=self.dir, capture_output=True,
                              text=True, timeout=TIMEOUT, **kw)

    def run(self, *flags: str) -> subprocess.CompletedProcess:
        fd = self._lock()
        try:
            return subprocess.run([str(STAGE1 / "run"), *flags, self.uuid], cwd=self.dir,
                                  env={**os.environ, "RKT_LOCK_FD": str(fd)}, pass_fds=[fd],
                                  capture_output=True, text=True, timeout=TIMEOUT)
        finally:
            os.close(fd)

    def spawn(self, *flags: str) -> subprocess.Popen:
        fd = self._lock()
        try:
            self.proc = subprocess.Popen([str(STAGE1 / "run"), *flags, self.uuid], cwd=self.dir,
                                         env={**os.environ, "RKT_LOCK_FD": str(fd)},
                                         pass_fds=[fd], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        finally:
            os.close(fd)
        deadline = time.monotonic() + TIMEOUT
        while not (self.dir / "pid").exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"run ended early ({self.proc.returncode}): {out}{err}")
            if time.monotonic() > deadline:
                pytest.fail("the pod did not start")
            time.sleep(0.02)
        return self.proc

    def wait(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, out, err

    def status(self, app_name: str) -> str:
        return (self.dir / "status" / app_name).read_text().strip()

    def locked(self) -> bool:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def cgroup_dirs(self) -> list[Path]:
        lines = (self.dir / "cgroups").read_text().split()
        return [Path(line) for line in lines[1:]]

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        if (self.dir / "cgroups").exists():
            self.entry("gc", self.uuid)


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "tree")


@pytest.fixture
def pods(tmp_path, tree):
    made: list[PodDir] = []

    def make(apps: list, **kw) -> PodDir:
        pod = PodDir(tmp_path / "data", kw.pop("tree", tree), apps, **kw)
        made.append(pod)
        return pod

    yield make
    for pod in made:
        pod.cleanup()


def status_fields(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


# ---- exit codes, output, logs ----

def test_exit_code_output_status_and_log(pods):
    pod = pods([app("hello", "/bin/sh", "-c", "echo Hello; echo oops >&2; exit 3")])
    res = pod.run()
    assert res.returncode == 3, res
    assert "Hello" in res.stdout and "oops" in res.stderr
    assert pod.status("hello") == "3"
    log = (pod.dir / "logs" / "hello.log").read_text()
    assert "Hello" in log and "oops" in log
    assert not pod.locked()


def test_first_failing_app_decides_and_stops_the_others(pods):
    pod = pods([app("zero", "/bin/sh", "-c", "sleep 1; exit 0"),
                app("five", "/bin/sh", "-c", "sleep 1; exit 5"),
                app("six", "/bin/sh", "-c", "sleep 30; exit 6")])
    res = pod.run()
    assert res.returncode == 5, res
    assert [pod.status(n) for n in ("zero", "five", "six")] == ["0", "5", "0"]


def test_pod_is_pid_namespace_with_init_as_pid_1(pods):
    pod = pods([app("ps", "/bin/sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")])
    res = pod.run()
    assert res.returncode == 0, res
    first, init = res.stdout.splitlines()[:2]
    assert int(first) > 1
    assert "run" in init


def test_exec_failure_is_a_stage1_error(pods):
    pod = pods([app("bad", "/bin/nonexistent")])
    res = pod.run()
    assert res.returncode == 254, res
    assert res.stderr.startswith("stage1: ")
    assert "/bin/nonexistent" in res.stderr and "No such file" in res.stderr


def test_bad_isolator_is_refused_before_anything_runs(pods):
    pod = pods([app("a", "/bin/true", isolators=[
        ("os/linux/capabilities-retain-set", {"set": ["CAP_BOGUS"]})])])
    res = pod.run()
    assert res.returncode == 254, res
    assert "CAP_BOGUS" in res.stderr
    assert not (pod.dir / "cgroups").exists()


# ---- isolation ----

def test_default_isolation(pods):
    pod = pods([app("status", "/bin/cat", "/proc/self/status")])
    res = pod.run()
    assert res.returncode == 0, res
    st = status_fields(res.stdout)
    assert int(st["CapBnd"], 16) == DEFAULT_CAPS
    assert int(st["CapEff"], 16) == DEFAULT_CAPS
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"


def test_capability_retain_and_remove_sets(pods):
    retain = pods([app("r", "/bin/cat", "/proc/self/status", isolators=[
        ("os/linux/capabilities-retain-set", {"set": ["CAP_NET_ADMIN"]})])])
    res = retain.run()
    assert res.returncode == 0, res
    assert int(status_fields(res.stdout)["CapBnd"], 16) == 1 << 12
    remove = pods([app("r", "/bin/cat", "/proc/self/status", isolators=[
        ("os/linux/capabilities-remove-set", {"set": ["CAP_CHOWN"]})])])
    res = remove.run()
    assert int(status_fields(res.stdout)["CapEff"], 16) == DEFAULT_CAPS & ~1


def test_seccomp_remove_set_with_errno(pods):
    pod = pods([app("s", "/bin/mkdir", "/made", isolators=[
        ("os/linux/seccomp-remove-set", {"set": ["mkdir", "mkdirat"], "errno": "EXFULL"})])])
    res = pod.run()
    assert res.returncode != 0
    assert "Exchange full" in res.stderr, res


def test_seccomp_lifted_by_insecure_option(pods):
    pod = pods([app("s", "/bin/cat", "/proc/self/status")],
               options={"insecureOptions": ["image", "seccomp"]})
    res = pod.run()
    assert status_fields(res.stdout)["Seccomp"] == "0"
    pod2 = pods([app("s", "/bin/cat", "/proc/self/status")])
    res = pod2.run("--disable-seccomp", "--disable-capabilities-restriction")
    st = status_fields(res.stdout)
    assert st["Seccomp"] == "0" and int(st["CapBnd"], 16) != DEFAULT_CAPS


def test_masked_and_read_only_paths(pods):
    script = ("stat -c %A /sys/firmware; stat -c %A /proc/kallsyms; "
              "echo x > /proc/sys/kernel/hostname; true")
    pod = pods([app("p", "/bin/sh", "-c", script)])
    res = pod.run()
    lines = res.stdout.splitlines()
    assert lines[:2] == ["d---------", "----------"], res
    assert "Read-only file system" in res.stderr
    lifted = pods([app("p", "/bin/sh", "-c", "stat -c %A /proc/kallsyms")],
                  options={"insecureOptions": ["paths"]})
    assert lifted.run().stdout.strip() != "----------"


def test_user_and_groups_from_the_image(pods):
    pod = pods([app("u", "/bin/id", user="user", group="1000")])
    res = pod.run()
    assert res.returncode == 0, res
    assert "uid=1000(user) gid=1000(user)" in res.stdout
    assert "1001(extra)" in res.stdout
    unknown = pods([app("u", "/bin/id", user="ghost")])
    res = unknown.run()
    assert res.returncode == 254 and "ghost" in res.stderr


# ---- identity of the pod: hostname, hosts ----

def test_hostname_and_etc_files(pods):
    pod = pods([app("h", "/bin/sh", "-c",
                    "hostname; cat /etc/hostname; stat -c %A /etc/hostname; cat /etc/hosts")])
    res = pod.run()
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0] == f"rkt-{pod.uuid}" and lines[1] == f"rkt-{pod.uuid}"
    assert lines[2] == "-rw-r--r--"
    assert (f"127.0.0.1 localhost localhost.domain localhost4 localhost4.localdomain4 "
            f"rkt-{pod.uuid}") in res.stdout
    named = pods([app("h", "/bin/hostname")])
    assert named.run("--hostname=test-hostname").stdout.strip() == "test-hostname"


def test_hosts_entries(pods):
    pod = pods([app("h", "/bin/cat", "/etc/hosts")],
               options={"hostsEntries": ["128.66.0.99=host1", "128.66.0.99=host2"]})
    res = pod.run()
    assert "128.66.0.99 host1 host2" in res.stdout.splitlines(), res
    host = pods([app("h", "/bin/sha1sum", "/etc/hosts")], options={"hostsEntries": ["host"]})
    res = host.run()
    assert res.stdout.split()[0] == hashlib.sha1(Path("/etc/hosts").read_bytes()).hexdigest()


# ---- networking ----

def test_network_namespaces(pods):
    own = pods([app("n", "/bin/ls", "/sys/class/net")], options={"net": ["none"]})
    res = own.run()
    assert res.stdout.split() == ["lo"], res
    host_ns = os.readlink("/proc/self/ns/net")
    shared = pods([app("n", "/bin/readlink", "/proc/self/ns/net")], options={"net": ["host"]})
    assert shared.run().stdout.strip() == host_ns
    private = pods([app("n", "/bin/readlink", "/proc/self/ns/net")])
    assert private.run("--net=default").stdout.strip() != host_ns


# ---- volumes ----

def test_host_volumes_read_only_and_missing(pods, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("from the host\n")
    vol = {"name": "dir1", "kind": "host", "source": str(src), "readOnly": False}
    pod = pods([app("v", "/bin/sh", "-c", "cat /dir1/file; echo new > /dir1/new",
                    mounts=[{"volume": "dir1", "path": "/dir1"}])], volumes=[vol])
    res = pod.run()
    assert res.returncode == 0, res
    assert "from the host" in res.stdout
    assert (src / "new").read_text() == "new\n"

    ro = pods([app("v", "/bin/sh", "-c", "echo x > /dir1/file",
                   mounts=[{"volume": "dir1", "path": "/dir1"}])],
              volumes=[{**vol, "readOnly": True}])
    res = ro.run()
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res

    missing = pods([app("v", "/bin/true", mounts=[{"volume": "dir1", "path": "/dir1"}])],
                   volumes=[{**vol, "source": "/this/directory/does/not/exist"}])
    res = missing.run()
    assert res.returncode == 254 and "/this/directory/does/not/exist" in res.stderr, res


def test_mount_target_parents_and_empty_volumes(pods):
    vols = [{"name": "shared", "kind": "empty", "mode": "0755", "uid": 0, "gid": 0}]
    pod = pods([app("w", "/bin/sh", "-c", "echo hi > /a/b/c/f; stat -c %A /a /a/b /a/b/c",
                    mounts=[{"volume": "shared", "path": "/a/b/c"}]),
                app("r", "/bin/sh", "-c", "sleep 1; cat /data/f",
                    mounts=[{"volume": "shared", "path": "/data"}])], volumes=vols)
    res = pod.run()
    assert res.returncode == 0, res
    assert res.stdout.count("drwxr-xr-x") == 3 and "hi" in res.stdout


def test_mount_target_leading_out_of_the_root_is_refused(pods, tmp_path):
    tree = make_tree(tmp_path / "evil-tree")
    (tree / "escape").symlink_to("../../../../../../../../tmp")
    src = tmp_path / "src"
    src.mkdir()
    pod = pods([app("e", "/bin/true", mounts=[{"volume": "v", "path": "/escape/x"}])],
               volumes=[{"name": "v", "kind": "host", "source": str(src)}], tree=tree)
    res = pod.run()
    assert res.returncode == 254, res
    assert "leads out of the root" in res.stderr and "/escape/x" in res.stderr


def test_read_only_rootfs(pods):
    pod = pods([app("ro", "/bin/sh", "-c", "touch /tmp/x", read_only_rootfs=True)])
    res = pod.run()
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res


# ---- cgroups, stop, enter, gc ----

def test_memory_limit_cgroup_and_gc(pods):
    pod = pods([app("m", "/bin/sleep", "1000",
                    isolators=[("resource/memory", {"limit": "64Mi"})])])
    pod.spawn()
    dirs = pod.cgroup_dirs()
    memory = [d for d in dirs if (d / "app-m" / "memory.limit_in_bytes").exists() or
              (d / "app-m" / "memory.max").exists()]
    if not memory:
        pytest.skip("no memory controller on this machine")
    limit_file = memory[0] / "app-m" / "memory.limit_in_bytes"
    if not limit_file.exists():
        limit_file = memory[0] / "app-m" / "memory.max"
    assert int(limit_file.read_text()) == 64 * 1024 * 1024
    assert pod.entry("stop", pod.uuid).returncode == 0
    code, _, err = pod.wait()
    assert code == 0, err
    assert pod.status("m") == "0"
    res = pod.entry("gc", pod.uuid)
    assert res.returncode == 0, res
    assert not any(d.exists() for d in dirs)


def test_stop_force(pods):
    pod = pods([app("s", "/bin/sh", "-c", "trap '' TERM; sleep 1000")])
    pod.spawn()
    assert pod.entry("stop", "--force", pod.uuid).returncode == 0
    code, _, _ = pod.wait()
    assert code == 128 + 9
    assert not pod.locked()


def test_enter_has_the_apps_isolation(pods):
    pod = pods([app("a", "/bin/sleep", "1000", user="user", group="user",
                    isolators=[("os/linux/capabilities-retain-set",
                                {"set": ["CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]})]),
                app("b", "/bin/sleep", "1000")])
    pod.spawn()
    res = pod.entry("enter", "--app=a", pod.uuid, "--", "/bin/cat", "/proc/self/status")
    assert res.returncode == 0, res
    st = status_fields(res.stdout)
    wanted = (1 << 13) | (1 << 10)
    assert int(st["CapBnd"], 16) == wanted
    assert int(st["CapEff"], 16) == wanted
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    assert st["Uid"].split()[0] == "1000"
    res = pod.entry("enter", "--app=a", pod.uuid, "--", "/bin/sh", "-c",
                    "hostname; cat /proc/self/cgroup; ls /proc | grep -c '^[0-9]'")
    lines = res.stdout.splitlines()
    assert lines[0] == f"rkt-{pod.uuid}"
    assert f"rkt-{pod.uuid}/app-a" in res.stdout
    # The pod's own /proc: init, two apps, the entered shell and its ls/grep.
    assert int(lines[-1]) < 10
    b = pod.entry("enter", "--app=b", pod.uuid, "--", "/bin/cat", "/proc/self/status")
    assert int(status_fields(b.stdout)["CapBnd"], 16) == DEFAULT_CAPS
    several = pod.entry("enter", pod.uuid, "--", "/bin/true")
    assert several.returncode == 254 and "--app" in several.stderr
    assert pod.entry("stop", pod.uuid).returncode == 0
    assert pod.wait()[0] == 0


def test_enter_of_a_stopped_pod_is_an_error(pods):
    pod = pods([app("a", "/bin/true")])
    assert pod.run().returncode == 0
    res = pod.entry("enter", pod.uuid, "--", "/bin/true")
    assert res.returncode == 254 and "not running" in res.stderr


# ---- interactive ----

def test_interactive_app_gets_the_terminal(pods):
    import pty
    import select
    script = ('if test -t 0; then echo "stdin is a terminal"; fi; '
              'read line; echo "Received text: $line"; ls -l /dev/console')
    pod = pods([app("i", "/bin/sh", "-c", script)], options={"interactive": True})
    master, slave = pty.openpty()
    fd = os.open(pod.dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.set_inheritable(fd, True)
    proc = subprocess.Popen([str(STAGE1 / "run"), pod.uuid], cwd=pod.dir,
                            env={**os.environ, "RKT_LOCK_FD": str(fd)}, pass_fds=[fd],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(fd)
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"stdin is a terminal" in out:
            os.write(master, b"Saluton\n")
            sent = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    assert proc.wait(timeout=TIMEOUT) == 0, out
    text = out.decode(errors="replace")
    assert "stdin is a terminal" in text and "Received text: Saluton" in text, text
    assert "/dev/console" in text


def test_not_interactive_has_no_terminal(pods):
    pod = pods([app("i", "/bin/sh", "-c", "test -t 0 || echo 'stdin is not a terminal'")])
    assert "stdin is not a terminal" in pod.run().stdout


def test_dns(pods):
    pod = pods([app("d", "/bin/cat", "/etc/resolv.conf")], options={"dns": ["128.66.0.53"]})
    res = pod.run()
    assert "nameserver 128.66.0.53" in res.stdout.splitlines(), res
    if Path("/etc/resolv.conf").exists():
        host = pods([app("d", "/bin/sha1sum", "/etc/resolv.conf")], options={"dns": ["host"]})
        digest = hashlib.sha1(Path("/etc/resolv.conf").read_bytes()).hexdigest()
        assert host.run().stdout.split()[0] == digest
