"""A stand-in for the kvm stage1's host side: boots the guest kernel with guest-init under
QEMU microvm (TCG), serves each app image as an erofs virtio-blk disk, and speaks the guest
protocol (docs/guest-protocol.md) over a virtio-serial port.

Used by tests/e2e/test_guest_boot.py. As a script it boots a one-app pod and prints how long the
guest took from kernel start to Ready (its own monotonic clock):

    python3 tests/guest/guest_vm.py [--build-dir build] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------
# The protocol (mirrors common/guest_protocol/; the unit test guest_protocol_python_copy,
# tests/guest/check_protocol_copy.py, fails when this copy and the C++ side differ)

MAGIC = b"RKTG"
VERSION = 6
HEADER = struct.Struct("<4sHHIII")  # magic, version, type, sequence, json length, payload length
MAX_JSON = 1024 * 1024
MAX_PAYLOAD = 64 * 1024
PORT_NAME = "org.rkt.guest.0"

TYPES = {
    "PodSpec": 0x0001, "StopPod": 0x0002, "Signal": 0x0003,
    "Ready": 0x0101, "AppStarted": 0x0102, "AppOutput": 0x0103, "AppExited": 0x0104,
    "PodExited": 0x0105, "Log": 0x0106, "Error": 0x0107,
    "Exec": 0x0004, "ExecSignal": 0x0006, "ExecStarted": 0x0108, "ExecOutput": 0x0109,
    "ExecExited": 0x010A,
}
NAMES = {v: k for k, v in TYPES.items()}


class ProtocolError(Exception):
    pass


@dataclass
class Frame:
    type: str
    body: dict
    payload: bytes = b""


class FrameWriter:
    def __init__(self) -> None:
        self.sequence = 1

    def encode(self, type_name: str, body: dict, payload: bytes = b"") -> bytes:
        data = json.dumps(body, separators=(",", ":")).encode()
        header = HEADER.pack(MAGIC, VERSION, TYPES[type_name], self.sequence, len(data),
                             len(payload))
        self.sequence += 1
        return header + data + payload


class FrameReader:
    def __init__(self) -> None:
        self.buffer = b""
        self.expected = 1

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next(self) -> Optional[Frame]:
        if len(self.buffer) < HEADER.size:
            return None
        magic, version, type_code, seq, jlen, plen = HEADER.unpack_from(self.buffer)
        if magic != MAGIC:
            raise ProtocolError(f"bad magic {magic!r}")
        if version != VERSION:
            raise ProtocolError(f"unsupported version {version}")
        if type_code not in NAMES:
            raise ProtocolError(f"unknown type {type_code}")
        if not 0 < jlen <= MAX_JSON or plen > MAX_PAYLOAD:
            raise ProtocolError(f"bad lengths {jlen}/{plen}")
        if seq != self.expected:
            raise ProtocolError(f"sequence {seq}, expected {self.expected}")
        total = HEADER.size + jlen + plen
        if len(self.buffer) < total:
            return None
        body = json.loads(self.buffer[HEADER.size:HEADER.size + jlen])
        payload = self.buffer[HEADER.size + jlen:total]
        self.buffer = self.buffer[total:]
        self.expected += 1
        return Frame(NAMES[type_code], body, payload)


# ---------------------------------------------------------------------------------------------
# Building the guest's inputs


def write_initramfs(guest_init: Path, dest: Path) -> Path:
    """An uncompressed newc cpio holding /init (guest-init) and /dev/console, written without
    cpio(1) and without root (device nodes are just header fields)."""
    entries = [
        ("dev", stat.S_IFDIR | 0o755, b"", 0, 0),
        ("dev/console", stat.S_IFCHR | 0o600, b"", 5, 1),
        ("init", stat.S_IFREG | 0o755, guest_init.read_bytes(), 0, 0),
    ]
    out = bytearray()

    def add(name: str, mode: int, data: bytes, rmaj: int, rmin: int, ino: int) -> None:
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmaj, rmin, len(encoded), 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rmaj, rmin) in enumerate(entries, start=1):
        add(name, mode, data, rmaj, rmin, ino)
    add("TRAILER!!!", 0, b"", 0, 0, 0)
    dest.write_bytes(bytes(out))
    return dest


BUSYBOX_APPLETS = ["sh", "echo", "cat", "sleep", "id", "ls", "pwd", "hostname", "grep", "true",
                   "false", "touch", "stat", "mount", "head", "env", "test", "kill", "mkdir",
                   "mknod", "cut", "seq"]


def find_busybox() -> Optional[Path]:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        p = Path(candidate)
        if p.exists():
            out = subprocess.run(["file", "-L", str(p)], capture_output=True, text=True).stdout \
                if shutil.which("file") else "statically linked"
            if "statically linked" in out or "static-pie" in out:
                return p
    return None


def make_busybox_rootfs(dest: Path) -> Path:
    """/bin/busybox with its applets, /etc/passwd and /etc/group, a bad ELF and a data file."""
    busybox = find_busybox()
    if busybox is None:
        raise RuntimeError("a static busybox is needed (Debian package busybox-static)")
    (dest / "bin").mkdir(parents=True, exist_ok=True)
    (dest / "etc").mkdir(exist_ok=True)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        link = dest / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "user:x:1000:1000:user:/home/user:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\nuser:x:1000:\nextra:x:1001:user\n")
    bad = dest / "bin" / "bad-elf"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 57)
    bad.chmod(0o755)
    plain = dest / "bin" / "not-executable"
    plain.write_text("just data\n")
    plain.chmod(0o644)
    return dest


def make_erofs(rootfs: Path, dest: Path) -> Path:
    subprocess.run(["mkfs.erofs", "--quiet", "--all-root", str(dest), str(rootfs)], check=True,
                   capture_output=True)
    return dest


def find_guest_artifacts(build_dir: Path) -> tuple[Optional[Path], Optional[Path]]:
    kvm = build_dir / "lib" / "rkt" / "stage1" / "kvm"
    kernel = Path(os.environ.get("RKT_GUEST_KERNEL", kvm / "bzImage"))
    guest_init = kvm / "guest-init"
    return (kernel if kernel.exists() else None, guest_init if guest_init.exists() else None)


# ---------------------------------------------------------------------------------------------
# The VM


def app(name: str, exec_: list[str], disk: int = 0, **kw) -> dict:
    """One app of a PodSpec with the defaults a test wants."""
    spec = {
        "name": name, "exec": exec_, "env": ["PATH=/bin"], "user": "0", "group": "0",
        "supplementary_gids": [], "working_dir": "/", "disk": disk,
        "isolation": {"masked_paths": False, "no_new_privileges": False}, "limits": {},
        "mounts": [],
    }
    spec.update(kw)
    return spec


def pod_spec(apps: list[dict], **kw) -> dict:
    spec = {"hostname": "rkt-guest-test", "apps": apps, "volumes": [], "stop_grace_ms": 10000,
            "hosts_entries": [], "debug": True}
    spec.update(kw)
    return spec


@dataclass
class PodRun:
    """What the host heard from one pod."""
    frames: list = field(default_factory=list)

    def of(self, type_name: str) -> list[Frame]:
        return [f for f in self.frames if f.type == type_name]

    def output(self, app_name: str, stream: str = "stdout") -> str:
        return b"".join(f.payload for f in self.of("AppOutput")
                        if f.body["app"] == app_name and f.body["stream"] == stream).decode()

    def exited(self, app_name: str) -> dict:
        found = [f.body for f in self.of("AppExited") if f.body["app"] == app_name]
        assert len(found) == 1, f"{app_name}: {len(found)} AppExited frames in {self.frames}"
        return found[0]

    def pod_exit(self) -> int:
        found = self.of("PodExited")
        assert len(found) == 1, f"{len(found)} PodExited frames"
        return found[0].body["exit_code"]


class GuestVM:
    def __init__(self, kernel: Path, initramfs: Path, workdir: Path, disks: list[Path],
                 volumes_9p: Optional[dict[str, Path]] = None, memory_mb: int = 256,
                 append: str = "") -> None:
        self.workdir = workdir
        self.console_log = workdir / "console.log"
        self.sock_path = workdir / "proto.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.sock_path))
        self.server.listen(1)
        # reboot=t and no_timer_check are built into the kernel too (kernel-config/guest.config);
        # noapictimer saves ~250 ms of APIC timer calibration that TCG then rejects anyway.
        cmd = ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-accel", "tcg", "-cpu", "max",
               "-m", str(memory_mb), "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none",
               "-serial", f"file:{self.console_log}",
               "-kernel", str(kernel), "-initrd", str(initramfs),
               "-append", f"console=ttyS0 quiet reboot=t panic=-1 no_timer_check noapictimer "
               f"{append}".strip()]
        for i, disk in enumerate(disks):
            cmd += ["-drive", f"id=disk{i},file={disk},format=raw,if=none,readonly=on",
                    "-device", f"virtio-blk-device,drive=disk{i},serial=rkt-disk-{i}"]
        for i, (tag, path) in enumerate((volumes_9p or {}).items()):
            cmd += ["-fsdev", f"local,id=fs{i},path={path},security_model=none",
                    "-device", f"virtio-9p-device,fsdev=fs{i},mount_tag={tag}"]
        cmd += ["-chardev", f"socket,id=proto,path={self.sock_path}",
                "-device", "virtio-serial-device",
                "-device", f"virtserialport,chardev=proto,name={PORT_NAME}"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.server.settimeout(30)
        self.conn, _ = self.server.accept()
        self.conn.setblocking(False)
        self.reader = FrameReader()
        self.writer = FrameWriter()
        self.pending: list[Frame] = []

    def send(self, type_name: str, body: dict) -> None:
        self.conn.setblocking(True)
        self.conn.sendall(self.writer.encode(type_name, body))
        self.conn.setblocking(False)

    def recv(self, timeout: float = 60.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.reader.next()
            if frame is not None:
                if frame.type == "PodExited":
                    self.hang_up()
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no frame within {timeout} s; {self.diagnostics()}")
            ready, _, _ = select.select([self.conn], [], [], left)
            if ready:
                data = self.conn.recv(65536)
                if not data:
                    raise EOFError(f"the guest closed the channel; {self.diagnostics()}")
                self.reader.feed(data)

    def hang_up(self) -> None:
        """Closes the host's side of the channel, as the kvm stage1 does after PodExited:
        guest-init ends the VM only once the host has hung up."""
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def expect(self, type_name: str, timeout: float = 60.0, into: Optional[PodRun] = None) -> Frame:
        """The next frame of `type_name`; Log frames and others are collected into `into`."""
        while True:
            frame = self.recv(timeout)
            if into is not None:
                into.frames.append(frame)
            if frame.type == type_name:
                return frame
            if frame.type == "Error" and type_name != "Error":
                raise AssertionError(f"guest error: {frame.body}; console:\n{self.console()}")

    def run_until_exit(self, timeout: float = 60.0, into: Optional[PodRun] = None) -> PodRun:
        run = into or PodRun()
        self.expect("PodExited", timeout, run)
        return run

    def wait(self, timeout: float = 30.0) -> int:
        """Waits for QEMU to end (the guest powers the VM off); returns its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"QEMU still running {timeout} s after the pod ended; "
                                 f"console:\n{self.console()}")

    def diagnostics(self) -> str:
        """QEMU's state and output and the guest console, for a failure message."""
        try:
            code = self.proc.wait(2)
        except subprocess.TimeoutExpired:
            code = None
        out = ""
        if code is not None and self.proc.stdout is not None:
            out = self.proc.stdout.read().decode(errors="replace")
        state = "QEMU still running" if code is None else f"QEMU exited with {code}"
        return (f"{state}; QEMU output:\n{out}\nframes so far: {self.reader.expected - 1}; "
                f"console:\n{self.console()}")

    def console(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in (getattr(self, "conn", None), self.server):
            if s is not None:
                s.close()


# ---------------------------------------------------------------------------------------------
# Boot-to-Ready measurement


def measure(build_dir: Path, runs: int) -> int:
    kernel, guest_init = find_guest_artifacts(build_dir)
    if kernel is None or guest_init is None:
        print(f"guest kernel or guest-init missing under {build_dir}/lib/rkt/stage1/kvm "
              "(cmake --build build --target guest-kernel guest-init)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        initramfs = write_initramfs(guest_init, work / "initramfs.cpio")
        disk = make_erofs(make_busybox_rootfs(work / "rootfs"), work / "app.erofs")
        for i in range(runs):
            run_dir = work / f"run{i}"
            run_dir.mkdir()
            vm = GuestVM(kernel, initramfs, run_dir, [disk])
            try:
                ready = vm.expect("Ready")
                host_ready = time.monotonic() - vm.started
                vm.send("PodSpec", pod_spec([app("true", ["/bin/true"])], debug=False))
                vm.run_until_exit()
                code = vm.wait()
                total = time.monotonic() - vm.started
                print(f"run {i + 1}: guest boot-to-Ready {ready.body['monotonic_ns'] / 1e6:.0f} ms"
                      f" (guest clock); QEMU start to Ready {host_ready * 1000:.0f} ms; "
                      f"whole pod {total * 1000:.0f} ms; QEMU exit {code}")
            finally:
                vm.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.exit(measure(args.build_dir, args.runs))
