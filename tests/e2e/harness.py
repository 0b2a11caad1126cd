"""What the end-to-end tests use to drive the real `rkt` binary: locating the build, a per-test
`Rkt` runner with its own data and config directories, image packing, and skip helpers.

    def test_exit_code(rkt, inspect_image):
        res, uuid = rkt.run_pod(inspect_image.arg, "--", "--print-msg=Hello", "--exit-code=2")
        assert res.code == 2 and "Hello" in res.out
        assert rkt.status(uuid)["state"] == "exited"
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import json
import os
import re
import shutil
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, Union

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO / "tests" / "fixtures"
if str(FIXTURES_DIR) not in sys.path:
    sys.path.insert(0, str(FIXTURES_DIR))

import images  # noqa: E402
import oci_pack  # noqa: E402

__all__ = ["REPO", "FIXTURES_DIR", "images", "oci_pack", "require", "have_command", "is_root",
           "have_kvm", "require_root", "require_kvm", "require_command", "find_build_dir",
           "stage1_dir", "stage1_built", "require_stage1", "ImageFixture", "pack", "Result",
           "Rkt", "PtyProcess", "parse_key_values", "one_error_line", "unmount_all_under", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 120.0
# Pod states as `rkt list` prints them, longest first so that "exited garbage" wins over "exited".
POD_STATES = sorted(["embryo", "preparing", "aborted prepare", "prepared", "running", "deleting",
                     "exited deleting", "exited", "exited garbage", "garbage"],
                    key=len, reverse=True)


# ---------------------------------------------------------------------------------------------
# Skips


def require(condition: object, reason: str) -> None:
    """Skips the calling test with `reason` (one line) unless `condition` holds."""
    if not condition:
        pytest.skip(reason)


def have_command(name: str) -> bool:
    return shutil.which(name) is not None


def is_root() -> bool:
    return os.geteuid() == 0


def have_kvm() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def require_root() -> None:
    require(is_root(), "needs root")


def require_kvm() -> None:
    require(have_kvm(), "no usable /dev/kvm")


def require_command(name: str, package: str = "") -> None:
    require(have_command(name), f"{name} not found" + (f" (Debian package {package})"
                                                        if package else ""))


# ---------------------------------------------------------------------------------------------
# The build


def find_build_dir() -> Path:
    """$RKT_BUILD_DIR, else <repo>/build."""
    return Path(os.environ.get("RKT_BUILD_DIR") or REPO / "build").resolve()


def stage1_dir(build_dir: Path, flavor: str) -> Path:
    return build_dir / "lib" / "rkt" / "stage1" / flavor


def stage1_built(build_dir: Path, flavor: str, entrypoint: str = "run") -> bool:
    return os.access(stage1_dir(build_dir, flavor) / entrypoint, os.X_OK)


def require_stage1(build_dir: Path, flavor: str) -> None:
    require(stage1_built(build_dir, flavor),
            f"stage1 {flavor} not built: {stage1_dir(build_dir, flavor)}/run is missing")


# ---------------------------------------------------------------------------------------------
# Images


@dataclasses.dataclass
class ImageFixture:
    """An image written to disk. kind: layout, oci-archive or docker-archive. tag is the
    ref.name (layouts, OCI archives) or "name:tag" (docker archives)."""

    path: Path
    kind: str
    tag: str
    digest: str                 # top-level manifest/index digest ("sha256:..."), or the config
                                # digest for docker archives (they carry no manifest)
    built: oci_pack.BuiltImage

    @property
    def arg(self) -> str:
        """The image as an argument to `rkt run/fetch/prepare`: its path (stage0 takes a layout
        directory or an archive file as a local image). Kept in one place so the syntax can
        follow stage0's."""
        return str(self.path)

    @property
    def ref_arg(self) -> str:
        """The image naming its tag: `oci:PATH:TAG` (layouts; needed when a layout holds
        several tags)."""
        return f"oci:{self.path}:{self.tag}" if self.kind == "layout" else self.arg

    @property
    def id(self) -> str:
        """rkt's image id for layouts and OCI archives: "sha256-<hex of the manifest digest>"."""
        return self.built.id


def pack(image: Union[oci_pack.Image, oci_pack.BuiltImage, list], dest: Union[str, Path],
         kind: str = "layout", tag: Optional[str] = None, **kwargs) -> ImageFixture:
    """Writes `image` (or a list of per-platform images, for layouts and OCI archives) to
    `dest` as `kind`; kwargs go to oci_pack's writer (annotations, broken, ...)."""
    dest = Path(dest)
    if kind == "layout":
        layout = oci_pack.write_layout(dest, image, tag=tag or "latest", **kwargs)
        return ImageFixture(dest, kind, layout.tag, layout.digest, layout.image)
    if kind == "oci-archive":
        layout = oci_pack.write_oci_archive(dest, image, tag=tag or "latest", **kwargs)
        return ImageFixture(dest, kind, layout.tag, layout.digest, layout.image)
    if kind == "docker-archive":
        tag = tag or "image:latest"
        built = oci_pack.write_docker_archive(dest, image, tags=[tag], **kwargs)
        return ImageFixture(dest, kind, tag, built.config_digest, built)
    raise ValueError(f"unknown image kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# Running rkt


class Result:
    """The outcome of one rkt run; unpacks as (code, out, err)."""

    def __init__(self, argv: Sequence[str], code: int, out: str, err: str):
        self.argv, self.code, self.out, self.err = list(argv), code, out, err

    def __iter__(self):
        return iter((self.code, self.out, self.err))

    def __repr__(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit code: {self.code}\n--- stdout ---\n{self.out}"
                f"--- stderr ---\n{self.err}")

    def expect(self, code: int = 0) -> "Result":
        """Asserts the exit code, showing the command and its output when it differs."""
        assert self.code == code, f"expected exit code {code}\n{self!r}"
        return self


def _mount_points_under(root: Path) -> list:
    prefix = str(root.resolve()).rstrip("/") + "/"
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                points.append(point)
    return points


def unmount_all_under(root: Path) -> list:
    """Lazily unmounts every mount at or below `root`, deepest first. Returns what it
    unmounted."""
    libc = ctypes.CDLL(None, use_errno=True)
    mnt_detach = 2
    done = []
    for _ in range(32):  # mounts can be stacked on one point
        points = _mount_points_under(root)
        if not points:
            break
        for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
            if libc.umount2(point.encode(), mnt_detach) == 0:
                done.append(point)
    return done


class Rkt:
    """Runs one rkt binary with a private --dir, --local-config, --system-config and
    --user-config under `root`, and --insecure-options=image unless told otherwise."""

    def __init__(self, binary: Union[str, Path], root: Union[str, Path],
                 insecure_options: Optional[str] = "image", debug: bool = False):
        self.binary = Path(binary)
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.local_config = self.root / "local-config"
        self.system_config = self.root / "system-config"
        self.user_config = self.root / "user-config"
        self.scratch = self.root / "scratch"   # for tests' own files
        for d in (self.data_dir, self.local_config, self.system_config, self.user_config,
                  self.scratch):
            d.mkdir(parents=True, exist_ok=True)
        # Pods are measured only by the tests of measured launches (test_tpm.py): elsewhere a
        # TPM of the machine's would be extended, and "pods are not measured" said, by tests
        # that are about something else.
        tpm_d = self.system_config / "tpm.d"
        tpm_d.mkdir(exist_ok=True)
        (tpm_d / "00-tests.json").write_text(
            '{"rktKind": "tpm", "rktVersion": "v1", "mode": "off"}\n')
        self.insecure_options = insecure_options
        self.debug = debug
        self.env = dict(os.environ)
        self._spawned: list = []
        self._counter = itertools.count(1)

    def global_args(self) -> list:
        args = [f"--dir={self.data_dir}", f"--local-config={self.local_config}",
                f"--system-config={self.system_config}", f"--user-config={self.user_config}"]
        if self.insecure_options:
            args.append(f"--insecure-options={self.insecure_options}")
        if self.debug:
            args.append("--debug")
        return args

    def command(self, *args: str) -> list:
        return [str(self.binary), *self.global_args(), *map(str, args)]

    def run(self, *args: str, input: Union[str, bytes, None] = None,
            timeout: float = DEFAULT_TIMEOUT, env: Optional[dict] = None,
            user: Optional[int] = None) -> Result:
        """Runs `rkt <global flags> ARGS...` to completion (as uid/gid `user` when given, with
        no supplementary groups). On timeout the whole process group is killed and the test
        fails with what the command had printed."""
        argv = self.command(*args)
        if isinstance(input, str):
            input = input.encode()
        identity = {} if user is None else dict(user=user, group=user, extra_groups=[])
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None
                                else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**self.env, **(env or {})},
                                start_new_session=True, **identity)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            pytest.fail(f"timed out after {timeout} s\n"
                        f"{Result(argv, -1, _text(out), _text(err))!r}")
        return Result(argv, proc.returncode, _text(out), _text(err))

    def spawn(self, *args: str, env: Optional[dict] = None, **popen_args) -> subprocess.Popen:
        """Starts rkt in the background (stdin a pipe, stdout/stderr pipes, text mode unless
        overridden); cleanup() kills it if the test did not wait for it."""
        options = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, start_new_session=True)
        options.update(popen_args)
        proc = subprocess.Popen(self.command(*args), env={**self.env, **(env or {})}, **options)
        self._spawned.append(proc)
        return proc

    def spawn_pod(self, *run_args: str, timeout: float = 60) -> "tuple[subprocess.Popen, str]":
        """Starts `rkt run --uuid-file-save=F *run_args` in the background and returns once the
        pod is running (its pid file exists): (the rkt process, the pod's uuid)."""
        uuid_file = self.uuid_file()
        proc = self.spawn("run", f"--uuid-file-save={uuid_file}", *run_args)
        deadline = time.monotonic() + timeout
        uuid = ""
        while True:
            if not uuid and uuid_file.exists():
                uuid = uuid_file.read_text().strip()
            pod = self.pod_dir(uuid) if uuid else None
            if pod and (pod / "pid").exists():
                return proc, uuid
            assert proc.poll() is None, f"rkt run ended: {proc.communicate()}"
            assert time.monotonic() < deadline, "the pod did not start"
            time.sleep(0.05)

    def spawn_pty(self, *args: str, env: Optional[dict] = None) -> "PtyProcess":
        """Starts rkt with a pseudo-terminal as stdin, stdout and stderr (for --interactive);
        cleanup() kills it if still running."""
        child = PtyProcess(self.command(*args), env={**self.env, **(env or {})})
        self._spawned.append(child)
        return child

    def uuid_file(self) -> Path:
        """A fresh path for --uuid-file-save (not created)."""
        return self.scratch / f"uuid-{next(self._counter)}"

    @staticmethod
    def read_uuid(path: Union[str, Path]) -> str:
        return Path(path).read_text().strip()

    def run_pod(self, *args: str, **run_args) -> tuple:
        """`rkt run --uuid-file-save=F ARGS...`; returns (Result, uuid or None)."""
        path = self.uuid_file()
        result = self.run("run", f"--uuid-file-save={path}", *args, **run_args)
        return result, (self.read_uuid(path) if path.exists() else None)

    def status(self, uuid: str, *flags: str) -> dict:
        """`rkt status` as a dict of its key=value lines; fails the test if rkt fails."""
        res = self.run("status", *flags, uuid).expect(0)
        return parse_key_values(res.out)

    def list_pods(self) -> list:
        """The pods as dicts. From `rkt list --format=json` when rkt supports it (rkt's v1 Pod
        JSON, plus "uuid" = "name"), else from `rkt list --full --no-legend` rows as
        {"uuid", "state", "row"}."""
        res = self.run("list", "--format=json")
        if res.code == 0:
            try:
                pods = json.loads(res.out or "[]")
                for pod in pods:
                    pod.setdefault("uuid", pod.get("name"))
                return pods
            except ValueError:
                pass
        res = self.run("list", "--full", "--no-legend").expect(0)
        pods = []
        for row in res.out.splitlines():
            if not row.strip() or row[0].isspace():
                continue  # blank, or a further app of the pod above
            state = next((s for s in POD_STATES if re.search(rf"\s{s}(\s|$)", row)), "")
            pods.append({"uuid": row.split()[0], "state": state, "row": row})
        return pods

    def pod_dir(self, uuid: str) -> Optional[Path]:
        """pods/<state>/<uuid> wherever the pod currently is, or None."""
        for candidate in (self.data_dir / "pods").glob(f"*/{uuid}"):
            return candidate
        return None

    def cleanup(self, remove_data: bool = True) -> None:
        """Kills spawned rkt processes, stops running pods, runs `rkt gc --grace-period=0s`,
        unmounts anything left under the root and (unless RKT_E2E_KEEP is set) removes the
        data directory."""
        for proc in self._spawned:
            if isinstance(proc, PtyProcess):
                proc.close()
                continue
            if proc.poll() is None:
                _kill_group(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        if self.binary.exists():
            for uuid_dir in (self.data_dir / "pods" / "run").glob("*"):
                self.run("stop", "--force", uuid_dir.name, timeout=60)
            self.run("gc", "--grace-period=0s", timeout=300)
        unmount_all_under(self.root)
        if remove_data and not os.environ.get("RKT_E2E_KEEP"):
            shutil.rmtree(self.data_dir, ignore_errors=True)


class PtyProcess:
    """A process on a pseudo-terminal, driven expect-style. `output` holds all it printed."""

    def __init__(self, argv: Sequence[str], env: Optional[dict] = None):
        leader, follower = pty.openpty()
        try:
            self.proc = subprocess.Popen(list(argv), stdin=follower, stdout=follower,
                                         stderr=follower, env=env, start_new_session=True)
        except BaseException:
            os.close(leader)
            raise
        finally:
            os.close(follower)
        self._leader = leader
        self._ended = False
        self.output = ""
        self._seen = 0  # expect() searches only output after its last match

    def _read(self, timeout: float) -> None:
        """Reads what arrives within `timeout`; sets _ended at the end of output."""
        if self._ended:
            return
        ready, _, _ = select.select([self._leader], [], [], max(0.0, timeout))
        if not ready:
            return
        try:
            data = os.read(self._leader, 65536)
        except OSError:  # EIO: every holder of the terminal's other side has closed it
            data = b""
        if not data:
            self._ended = True
        self.output += data.decode("utf-8", errors="replace")

    def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match:
        """Waits for `pattern` (a regex) in the output after the previous match; fails the
        test on timeout or end of output, showing what was printed."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output, self._seen)
            if match:
                self._seen = match.end()
                return match
            left = deadline - time.monotonic()
            if self._ended or left <= 0:
                why = "output ended" if self._ended else f"{timeout} s passed"
                pytest.fail(f"{pattern!r} not seen ({why}); output:\n{self.output}")
            self._read(min(left, 1.0))

    def send(self, text: str) -> None:
        os.write(self._leader, text.encode())

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Waits for the exit, collecting the rest of the output; returns the exit code."""
        deadline = time.monotonic() + timeout
        while not self._ended and time.monotonic() < deadline:
            self._read(min(1.0, deadline - time.monotonic()))
            if self.proc.poll() is not None and not select.select([self._leader], [], [], 0)[0]:
                break  # exited, and nothing left to read (a grandchild may hold the terminal)
        try:
            return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"did not exit within {timeout} s; output:\n{self.output}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            _kill_group(self.proc)

    def close(self) -> None:
        self.kill()
        if self._leader >= 0:
            os.close(self._leader)
            self._leader = -1


def one_error_line(res: "Result", *needles: str, allow_warnings: bool = False):
    """rkt's errors: exit 254 and one line on stderr that names the problem (besides lines
    with "warning:" when `allow_warnings`, e.g. a registry reached over plain http)."""
    assert res.code == 254, repr(res)
    lines = [l for l in res.err.splitlines()
             if l.strip() and not (allow_warnings and "warning:" in l)]
    assert len(lines) == 1, repr(res)
    for n in needles:
        assert n in lines[0], repr(res)
    return lines[0]


def parse_key_values(text: str) -> dict:
    """key=value lines (as `rkt status` prints) into a dict; other lines are ignored."""
    result = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and " " not in key:
            result[key] = value
    return result


def _text(data: Optional[bytes]) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
