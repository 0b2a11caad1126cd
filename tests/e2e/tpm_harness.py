"""A software TPM for the end-to-end tests: swtpm on 127.0.0.1 with free ports and its state in
a temporary directory, started already initialised (TPM2_Startup(CLEAR)), as firmware leaves a
real TPM.

    def test_measures(rkt, inspect_image):
        with Swtpm() as tpm:
            before = tpm.pcr_read(16)
            rkt.run_pod(inspect_image.arg, extra=[f"--tpm={tpm.tcti}"])
            assert tpm.pcr_read(16) != before
            tpm.restart()                      # a reboot: PCRs cleared, resetCount + 1
            assert tpm.pcr_read(16) == bytes(32)

swtpm serves one connection at a time: a pcr_read() while rkt holds the TPM waits for rkt.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import harness

__all__ = ["Swtpm", "have_swtpm", "require_swtpm"]


def have_swtpm() -> bool:
    return harness.have_command("swtpm")


def require_swtpm() -> None:
    harness.require(have_swtpm(), "needs swtpm (Debian package swtpm)")


def _free_port_pair() -> int:
    """A port P with P and P + 1 free: the swtpm TCTI finds the control port next to P."""
    for _ in range(100):
        with socket.socket() as server, socket.socket() as ctrl:
            server.bind(("127.0.0.1", 0))
            port = server.getsockname()[1]
            if port == 65535:
                continue
            try:
                ctrl.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two consecutive free loopback ports")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Swtpm:
    """One swtpm process; `tcti` names it for rkt (--tpm=...) and tss2, `env` for tpm2-tools."""

    START_TIMEOUT = 10.0
    STOP_TIMEOUT = 5.0

    def __init__(self, parent_dir: Optional[Path] = None):
        self.state_dir = Path(tempfile.mkdtemp(prefix="rkt-swtpm-", dir=parent_dir))
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    @property
    def env(self) -> dict:
        return dict(os.environ, TPM2TOOLS_TCTI=self.tcti)

    @property
    def log(self) -> str:
        path = self.state_dir / "swtpm.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Starts swtpm on its state directory (the same ports as before after a stop)."""
        if self.proc is not None:
            raise RuntimeError("swtpm is already running")
        # The ports are free when chosen; swtpm exits if one is taken before it binds it, and a
        # first start then tries another pair.
        for _ in range(1 if self.port else 10):
            port = self.port or _free_port_pair()
            proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state_dir}",
                 "--server", f"type=tcp,bindaddr=127.0.0.1,port={port}",
                 "--ctrl", f"type=tcp,bindaddr=127.0.0.1,port={port + 1}",
                 "--flags", "not-need-init,startup-clear",
                 "--log", f"file={self.state_dir / 'swtpm.log'}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + self.START_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                if _accepts(port) and _accepts(port + 1):
                    self.port, self.proc = port, proc
                    return
                time.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        raise RuntimeError(f"swtpm did not start; its log:\n{self.log}")

    def stop(self) -> None:
        """Ends swtpm (SIGTERM, then SIGKILL); its state directory stays for start()."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    terminate = stop

    def restart(self) -> None:
        """A reboot of the machine: the same TPM (keys, identity), started again with
        TPM2_Startup(CLEAR), so the PCRs are reset and resetCount counts one more."""
        self.stop()
        self.start()

    def pcr_read(self, pcr: int, bank: str = "sha256") -> bytes:
        """The value of one PCR in one bank, by tpm2_pcrread."""
        harness.require(harness.have_command("tpm2_pcrread"), "needs tpm2-tools")
        with tempfile.TemporaryDirectory(prefix="rkt-pcr-") as tmp:
            out = Path(tmp) / "value"
            res = subprocess.run(["tpm2_pcrread", f"{bank}:{pcr}", "-o", str(out)], env=self.env,
                                 capture_output=True, text=True, timeout=30)
            if res.returncode != 0:
                raise RuntimeError(f"tpm2_pcrread {bank}:{pcr} failed: {res.stderr.strip()}")
            return out.read_bytes()

    def close(self) -> None:
        """Stops swtpm and removes its state."""
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "Swtpm":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
