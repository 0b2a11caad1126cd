"""Measured launches (docs/tpm.md) against a real TPM: Debian's swtpm, started on loopback by the
tests and reached through its socket TCTI. The PCR values are read with tpm2-tools and the
event log is replayed here in Python, independently of rkt's own replay; quotes are checked with
tpm2_checkquote."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import harness
from harness import one_error_line, require, require_command, require_stage1
from stage1_pods import STAGE1S, require_kvm_stage1
from test_verity import PROBE, disk_of, verity_image, verity_params  # noqa: F401 (fixture)
from tpm_harness import Swtpm

PCR = 23


@pytest.fixture
def swtpm(tmp_path):
    require_command("swtpm", "swtpm")
    require_command("tpm2_pcrread", "tpm2-tools")
    with Swtpm(tmp_path) as tpm:
        yield tpm


def measured(rkt, tpm, *args, mode="required"):
    """`rkt --tpm=MODE --tpm-tcti=<swtpm> ARGS...`"""
    return rkt.run(f"--tpm={mode}", f"--tpm-tcti={tpm.tcti}", *args, timeout=300)


def run_fly(rkt, tpm, image, *app_args, mode="required"):
    path = rkt.uuid_file()
    res = measured(rkt, tpm, "run", "--stage1-name=fly", f"--uuid-file-save={path}", image.arg,
                   *(("--",) + app_args if app_args else ()), mode=mode)
    return res, (rkt.read_uuid(path) if path.exists() else None)


def records(log_path: Path) -> list:
    """The log's records, parsed here (RFC 7464: RS, JSON, LF)."""
    data = log_path.read_bytes()
    assert data.startswith(b"\x1e"), data[:40]
    out = []
    for chunk in data.split(b"\x1e")[1:]:
        assert chunk.endswith(b"\n")
        out.append(json.loads(chunk))
    return out


def write_records(log: Path, recs: list) -> None:
    """Writes `recs` as a log (RFC 7464), as a tamperer would."""
    log.write_bytes(b"".join(b"\x1e" + json.dumps(r).encode() + b"\n" for r in recs))


def replay(recs: list, bank: str = "sha256") -> bytes:
    """The PCR value the log claims, computed as the TPM computes extends."""
    start = {d["hashAlg"]: d["digest"] for d in recs[0]["content"]["pcr_start"]}
    value = bytes.fromhex(start[bank])
    for r in recs[1:]:
        content = json.dumps(r["content"], sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False).encode()
        digest = {d["hashAlg"]: d["digest"] for d in r["digests"]}[bank]
        assert hashlib.new(bank, content).hexdigest() == digest, r
        value = hashlib.new(bank, value + bytes.fromhex(digest)).digest()
    return value


def log_path(rkt) -> Path:
    return rkt.data_dir / "tpm" / "log.cel"


def kinds_of(recs: list, uuid: str) -> list:
    return [r["content"]["kind"] for r in recs if r["content"].get("pod") == uuid]


def test_fly_pod_is_measured_and_verifies(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    res, uuid = run_fly(rkt, swtpm, inspect_image, "--print-msg=measured")
    res.expect(0)
    assert "measured" in res.out
    recs = records(log_path(rkt))
    assert recs[0]["content_type"] == "rkt_log" and recs[0]["pcr"] == PCR
    assert kinds_of(recs, uuid) == ["stage1", "image", "app-tree", "pod-manifest", "isolation"]
    stage1 = recs[1]["content"]
    run = Path(stage1["path"])
    assert stage1["digest"] == "sha256:" + hashlib.sha256(run.read_bytes()).hexdigest()
    tree = next(r["content"] for r in recs if r["content"].get("kind") == "app-tree")
    pod_dir = rkt.pod_dir(uuid)
    assert tree["digest"] == (pod_dir / "appsinfo" / "inspect" / "tree.digest").read_text().strip()
    manifest = next(r["content"] for r in recs if r["content"].get("kind") == "pod-manifest")
    assert manifest["digest"] == "sha256:" + hashlib.sha256((pod_dir / "pod").read_bytes()).hexdigest()
    assert swtpm.pcr_read(PCR, "sha256") == replay(recs)
    ok = measured(rkt, swtpm, "tpm", "verify").expect(0)
    assert "verify: OK" in ok.out and "after 5 records" in ok.out
    table = measured(rkt, swtpm, "tpm", "log").expect(0)
    assert uuid[:8] in table.out and "app-tree" in table.out
    as_json = json.loads(measured(rkt, swtpm, "tpm", "log", "--format=json").expect(0).out)
    assert as_json == recs


def test_nspawn_pod_is_measured(rkt, build_dir, swtpm, inspect_image):
    STAGE1S["nspawn"].require(build_dir)
    path = rkt.uuid_file()
    measured(rkt, swtpm, "run", "--stage1-name=nspawn", f"--uuid-file-save={path}",
             inspect_image.arg).expect(0)
    uuid = rkt.read_uuid(path)
    recs = records(log_path(rkt))
    assert kinds_of(recs, uuid) == ["stage1", "image", "app-tree", "pod-manifest", "isolation"]
    assert swtpm.pcr_read(PCR, "sha256") == replay(recs)
    measured(rkt, swtpm, "tpm", "verify").expect(0)


def test_kvm_pod_measures_kernel_init_and_disk_root_hash(rkt, build_dir, swtpm, inspect_image):
    require_kvm_stage1(build_dir)
    path = rkt.uuid_file()
    measured(rkt, swtpm, "run", "--stage1=kvm-qemu", f"--uuid-file-save={path}",
             inspect_image.arg, "--", "--print-msg=in-vm").expect(0)
    uuid = rkt.read_uuid(path)
    recs = records(log_path(rkt))
    kinds = kinds_of(recs, uuid)
    assert kinds[0] == "stage1" and "kernel" in kinds and "guest-init" in kinds, kinds
    assert kinds[-4:] == ["image", "app-disk", "pod-manifest", "isolation"], kinds
    disk = next(r["content"] for r in recs if r["content"].get("kind") == "app-disk")
    verity = json.loads((rkt.pod_dir(uuid) / "appsinfo" / "inspect" / "image.verity").read_text())
    assert disk["verity"]["root_hash"] == verity["root_hash"]
    isolation = next(r["content"] for r in recs if r["content"].get("kind") == "isolation")
    assert isolation["stage1"] == "kvm"
    assert swtpm.pcr_read(PCR, "sha256") == replay(recs)
    measured(rkt, swtpm, "tpm", "verify").expect(0)


def test_insecure_options_measure_differently(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    rkt.insecure_options = "image,seccomp,capabilities"
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    recs = records(log_path(rkt))
    iso = [r["content"] for r in recs if r["content"].get("kind") == "isolation"]
    assert len(iso) == 2
    assert iso[0]["insecure_options"] == ["image"]
    assert iso[1]["insecure_options"] == ["capabilities", "image", "seccomp"]
    digests = [r["digests"] for r in recs if r["content"].get("kind") == "isolation"]
    assert digests[0] != digests[1]


def test_many_and_concurrent_pods_verify(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    for _ in range(3):
        run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run_fly(rkt, swtpm, inspect_image), range(6)))
    for res, _ in results:
        res.expect(0)
    recs = records(log_path(rkt))
    pods = [r["content"]["pod"] for r in recs[1:]]
    assert len(set(pods)) == 9 and len(pods) == 45
    # One lock covers each pod's extends and appends: a pod's records are never interleaved.
    for i in range(0, 45, 5):
        assert len(set(pods[i:i + 5])) == 1, pods
    assert [r["recnum"] for r in recs] == list(range(46))
    assert swtpm.pcr_read(PCR, "sha256") == replay(recs)
    measured(rkt, swtpm, "tpm", "verify").expect(0)


def test_tampered_entry_is_named(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    for _ in range(2):
        run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    path = log_path(rkt)
    recs = records(path)
    recs[8]["content"]["image"] = "example.com/not-what-ran"
    write_records(path, recs)
    res = measured(rkt, swtpm, "tpm", "verify")
    assert res.code == 1, repr(res)
    assert "record 8 (pod " in res.err and "was changed" in res.err, res.err


def test_removed_entry_is_named(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    path = log_path(rkt)
    recs = records(path)
    del recs[2]
    for i, r in enumerate(recs):
        r["recnum"] = i
    write_records(path, recs)
    res = measured(rkt, swtpm, "tpm", "verify")
    assert res.code == 1, repr(res)
    assert "record 2 (pod " in res.err and "does not follow" in res.err, res.err


def test_changed_image_is_named(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    res, uuid = run_fly(rkt, swtpm, inspect_image)
    res.expect(0)
    measured(rkt, swtpm, "tpm", "verify").expect(0)
    tree = (rkt.pod_dir(uuid) / "appsinfo" / "inspect" / "rootfs").resolve()
    target = tree / "inspect"
    target.write_bytes(target.read_bytes() + b"\0")
    res = measured(rkt, swtpm, "tpm", "verify")
    assert res.code == 1, repr(res)
    assert "app-tree of app inspect" in res.err and "has changed" in res.err, res.err
    # Replaying the log alone still matches: the PCR holds what was measured at launch.
    measured(rkt, swtpm, "tpm", "verify", "--log-only").expect(0)


def test_changed_stage1_is_named(rkt, build_dir, swtpm, inspect_image, tmp_path):
    require_stage1(build_dir, "fly")
    # A copy of the fly stage1, so that changing it leaves the build alone.
    copy = tmp_path / "fly-copy"
    subprocess.run(["cp", "-a", str(harness.stage1_dir(build_dir, "fly")), str(copy)], check=True)
    path = rkt.uuid_file()
    measured(rkt, swtpm, "run", f"--stage1-path={copy}", f"--uuid-file-save={path}",
             inspect_image.arg).expect(0)
    with open(copy / "run", "ab") as f:
        f.write(b"\0")
    res = measured(rkt, swtpm, "tpm", "verify")
    assert res.code == 1, repr(res)
    assert "record 1 (pod " in res.err and "stage1" in res.err, res.err


def checkquote_pcr(out_dir: Path, nonce: str) -> bytes:
    """Runs tpm2_checkquote on rkt's quote; returns the PCR value the quote vouches for."""
    res = subprocess.run(["tpm2_checkquote", "-u", "ak.pem", "-m", "quote.msg", "-s", "quote.sig",
                          "-f", "quote.pcrs", "-g", "sha256", "-q", nonce],
                         cwd=out_dir, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr + res.stdout
    m = re.search(rf"^\s*{PCR}\s*:\s*0x([0-9A-Fa-f]+)", res.stdout, re.M)
    assert m, res.stdout
    return bytes.fromhex(m.group(1))


def test_quote_checked_by_tpm2_checkquote_and_replay(rkt, build_dir, swtpm, inspect_image,
                                                     tmp_path):
    require_stage1(build_dir, "fly")
    require_command("tpm2_checkquote", "tpm2-tools")
    for _ in range(2):
        run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    nonce = os.urandom(16).hex()
    out = tmp_path / "quote"
    measured(rkt, swtpm, "tpm", "quote", f"--nonce={nonce}", f"--out={out}").expect(0)
    for name in ("quote.msg", "quote.sig", "quote.pcrs", "ak.pem", "log.cel", "quote.json"):
        assert (out / name).is_file(), name
    quoted = checkquote_pcr(out, nonce)
    assert quoted == replay(records(out / "log.cel"))
    # The verifier's replay, offline: no TPM, the value the quote vouches for.
    rkt.run("tpm", "verify", f"--log={out / 'log.cel'}",
            f"--pcr-value=sha256:{quoted.hex()}").expect(0)
    # A second quote reuses the persisted attestation key.
    pem = (out / "ak.pem").read_text()
    out2 = tmp_path / "quote2"
    measured(rkt, swtpm, "tpm", "quote", f"--nonce={nonce}", f"--out={out2}").expect(0)
    assert (out2 / "ak.pem").read_text() == pem
    # A replayed quote (another nonce) and a forged PCR file are refused by the verifier.
    bad = subprocess.run(["tpm2_checkquote", "-u", "ak.pem", "-m", "quote.msg", "-s", "quote.sig",
                          "-f", "quote.pcrs", "-g", "sha256", "-q", "00" + nonce[2:]],
                         cwd=out, capture_output=True)
    assert bad.returncode != 0
    pcrs = bytearray((out / "quote.pcrs").read_bytes())
    # tpm2-tools' serialized layout: TPML_PCR_SELECTION (132 bytes), a u32 count, then
    # TPML_DIGEST (u32 count, TPM2B_DIGEST: u16 size, the digest): the first digest byte.
    pcrs[132 + 4 + 4 + 2] ^= 1
    (out / "quote.pcrs").write_bytes(bytes(pcrs))
    forged = subprocess.run(["tpm2_checkquote", "-u", "ak.pem", "-m", "quote.msg", "-s",
                             "quote.sig", "-f", "quote.pcrs", "-g", "sha256", "-q", nonce],
                            cwd=out, capture_output=True)
    assert forged.returncode != 0
    res = rkt.run("tpm", "verify", f"--log={out / 'log.cel'}",
                  f"--pcr-value=sha256:{bytes(32).hex()}")
    assert res.code == 1, repr(res)


def test_required_without_a_tpm_exits_254(rkt, build_dir, inspect_image):
    require_stage1(build_dir, "fly")
    require(not os.path.exists("/dev/tpmrm0") and not os.path.exists("/dev/tpm0"),
            "this machine has a TPM device, so 'no TPM' cannot be shown here")
    res = rkt.run("--tpm=required", "run", "--stage1-name=fly", inspect_image.arg)
    one_error_line(res, "--tpm=required", "no TPM")
    assert list((rkt.data_dir / "pods").glob("*/*")) == []


def test_required_with_an_unreachable_tpm_exits_254(rkt, build_dir, inspect_image):
    require_stage1(build_dir, "fly")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    res = rkt.run("--tpm=required", f"--tpm-tcti=swtpm:host=127.0.0.1,port={port}", "run",
                  "--stage1-name=fly", inspect_image.arg)
    one_error_line(res, "--tpm=required")
    assert list((rkt.data_dir / "pods").glob("*/*")) == []


@contextlib.contextmanager
def silent_ports():
    """Two consecutive loopback ports (swtpm's server and control) that accept connections and
    never answer: a TPM that hangs."""
    for _ in range(50):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", port + 1))
        except OSError:
            first.close()
            second.close()
            continue
        with first, second:
            first.listen(4)
            second.listen(4)
            yield port
        return
    raise RuntimeError("no two consecutive free ports")


def test_silent_tpm_times_out_with_254(rkt, build_dir, inspect_image):
    require_stage1(build_dir, "fly")
    (rkt.local_config / "tpm.d").mkdir()
    (rkt.local_config / "tpm.d" / "10.json").write_text(
        '{"rktKind": "tpm", "rktVersion": "v1", "timeout": "1s"}')
    with silent_ports() as port:
        res = rkt.run("--tpm=required", f"--tpm-tcti=swtpm:host=127.0.0.1,port={port}", "run",
                      "--stage1-name=fly", inspect_image.arg, timeout=30)
    one_error_line(res, "did not answer within")
    assert list((rkt.data_dir / "pods").glob("*/*")) == []


def test_auto_without_a_tpm_says_so_once(rkt, build_dir, inspect_image):
    require_stage1(build_dir, "fly")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ("--tpm=auto", f"--tpm-tcti=swtpm:host=127.0.0.1,port={port}", "run",
            "--stage1-name=fly", inspect_image.arg)
    first = rkt.run(*args).expect(0)
    assert first.err.count("pods are not measured") == 1, first.err
    second = rkt.run(*args).expect(0)
    assert "not measured" not in second.err, second.err
    assert not log_path(rkt).exists()


def test_off_measures_nothing(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    before = swtpm.pcr_read(PCR, "sha256")
    run_fly(rkt, swtpm, inspect_image, mode="off")[0].expect(0)
    assert swtpm.pcr_read(PCR, "sha256") == before
    assert not log_path(rkt).exists()


def test_corrupt_or_truncated_log_refuses_to_run(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    path = log_path(rkt)
    good = path.read_bytes()
    for bad, words in ((good[:-7], "truncated"), (good.replace(b'"recnum":3', b'"recnum":9'),
                                                  "recnum 9 where 3")):
        path.write_bytes(bad)
        res, _ = run_fly(rkt, swtpm, inspect_image)
        one_error_line(res, "event log", words)
        res = measured(rkt, swtpm, "tpm", "verify")
        one_error_line(res, words)
    assert len(list((rkt.data_dir / "pods").glob("*/*"))) == 1


def test_log_of_another_tpm_refuses_to_run(rkt, build_dir, swtpm, inspect_image, tmp_path):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    with Swtpm(tmp_path) as other:
        res, _ = run_fly(rkt, other, inspect_image)
        one_error_line(res, "belongs to another TPM")
        res = measured(rkt, other, "tpm", "verify")
        assert res.code == 1 and "another TPM" in res.err, repr(res)


def test_tpm_reset_starts_a_new_log(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    swtpm.restart()
    res, uuid = run_fly(rkt, swtpm, inspect_image)
    res.expect(0)
    assert "a new TPM event log begins" in res.err, res.err
    assert (rkt.data_dir / "tpm" / "log-1.cel").is_file()
    recs = records(log_path(rkt))
    assert {r["content"]["pod"] for r in recs[1:]} == {uuid}
    measured(rkt, swtpm, "tpm", "verify").expect(0)


def test_run_prepared_is_measured_and_failure_keeps_it_prepared(rkt, build_dir, swtpm,
                                                                inspect_image):
    require_stage1(build_dir, "fly")
    uuid = measured(rkt, swtpm, "prepare", "--quiet", "--stage1-name=fly",
                    inspect_image.arg).expect(0).out.strip()
    assert not log_path(rkt).exists()  # prepare measures nothing: run-prepared does
    res = rkt.run("--tpm=required", "--tpm-tcti=swtpm:host=127.0.0.1,port=1", "run-prepared", uuid)
    one_error_line(res, "--tpm=required")
    assert rkt.status(uuid)["state"] == "prepared"
    measured(rkt, swtpm, "run-prepared", uuid).expect(0)
    assert kinds_of(records(log_path(rkt)), uuid)[0] == "stage1"
    measured(rkt, swtpm, "tpm", "verify").expect(0)


def test_tpm_files_are_root_only(rkt, build_dir, swtpm, inspect_image, tmp_path):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    measured(rkt, swtpm, "tpm", "quote", "--nonce=ab", f"--out={tmp_path / 'q'}").expect(0)
    tpm_dir = rkt.data_dir / "tpm"
    assert tpm_dir.stat().st_mode & 0o777 == 0o700
    assert log_path(rkt).stat().st_mode & 0o077 == 0
    assert rkt.run("tpm", "log", user=65534).code == 254


def test_kvm_disk_changed_after_measurement_fails_in_the_guest(rkt, build_dir, swtpm,
                                                               verity_image):
    require_kvm_stage1(build_dir)
    # The app reads its disk only after a pause: the disk is changed after rkt measured it.
    uuid_file = rkt.uuid_file()
    proc = rkt.spawn("--tpm=required", f"--tpm-tcti={swtpm.tcti}", "run", "--stage1=kvm-qemu",
                     f"--uuid-file-save={uuid_file}", verity_image.arg, "--", "--sleep=3",
                     "--read-file=/data/marker")
    deadline = time.monotonic() + 120
    while not uuid_file.exists() or not kinds_of(records(log_path(rkt)) if log_path(rkt).exists()
                                                 else [], rkt.read_uuid(uuid_file)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the pod was not measured"
        time.sleep(0.05)
    uuid = rkt.read_uuid(uuid_file)
    pod_dir = rkt.pod_dir(uuid)
    disk = next(r["content"] for r in records(log_path(rkt)) if r["content"].get("kind") == "app-disk")
    assert disk["verity"] == verity_params(pod_dir)
    image = disk_of(pod_dir)
    data = image.read_bytes()
    at = data.find(PROBE)
    assert 0 < at < disk["verity"]["hash_offset"]
    with open(image, "r+b") as f:
        f.seek(at)
        f.write(b"V")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 254, (out, err)
    assert "dm-verity" in err, err
    assert "verity-marker-00008000" not in out
    # The log holds what was measured, the disk as it was: verify finds the disk changed.
    res = measured(rkt, swtpm, "tpm", "verify")
    assert res.code == 1, repr(res)
    assert "app-disk of app " in res.err and "has changed" in res.err, res.err


class StallingProxy:
    """A TCP proxy in front of swtpm's two ports that passes the first `commands` connections to
    its server port (swtpm's TCTI connects once per TPM command) and then accepts but never
    answers: a TPM that stops answering in the middle of a measurement."""

    def __init__(self, tpm: Swtpm, commands: int):
        self.commands = commands
        self.listeners = []
        self.threads = []
        self.stop = threading.Event()
        for _ in range(50):
            a, b = socket.socket(), socket.socket()
            a.bind(("127.0.0.1", 0))
            try:
                b.bind(("127.0.0.1", a.getsockname()[1] + 1))
            except OSError:
                a.close()
                b.close()
                continue
            self.listeners = [a, b]
            break
        self.port = self.listeners[0].getsockname()[1]
        self.passed = 0
        for listener, target, counted in ((self.listeners[0], tpm.port, True),
                                          (self.listeners[1], tpm.port + 1, False)):
            listener.listen(16)
            t = threading.Thread(target=self._serve, args=(listener, target, counted), daemon=True)
            t.start()
            self.threads.append(t)

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def _serve(self, listener, target, counted):
        held = []
        while not self.stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if counted and self.passed >= self.commands:
                held.append(client)  # never answered
                continue
            if counted:
                self.passed += 1
            upstream = socket.create_connection(("127.0.0.1", target))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        for listener in self.listeners:
            listener.close()


def test_tpm_that_stops_answering_mid_measurement(rkt, build_dir, swtpm, inspect_image):
    require_stage1(build_dir, "fly")
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)  # a log to continue, and a warm cache
    (rkt.local_config / "tpm.d").mkdir()
    (rkt.local_config / "tpm.d" / "10.json").write_text(
        '{"rktKind": "tpm", "rktVersion": "v1", "timeout": "2s"}')
    # Six commands reach the TPM (its clock, the PCR's banks and value, the clock again, the
    # first extends); a later extend never gets an answer.
    proxy = StallingProxy(swtpm, commands=6)
    try:
        path = rkt.uuid_file()
        res = rkt.run("--tpm=required", f"--tpm-tcti={proxy.tcti}", "run", "--stage1-name=fly",
                      f"--uuid-file-save={path}", inspect_image.arg, "--", "--print-msg=RAN",
                      timeout=60)
    finally:
        proxy.close()
    one_error_line(res, "did not answer within")
    assert "RAN" not in res.out
    assert len(list((rkt.data_dir / "pods").glob("*/*"))) == 1  # only the first pod
    # The extends the TPM took are logged: the log still replays to the PCR.
    recs = records(log_path(rkt))
    second = [r["content"]["kind"] for r in recs[6:]]
    assert 1 <= len(second) < 5 and second[0] == "stage1", second
    assert swtpm.pcr_read(PCR, "sha256") == replay(recs)
    measured(rkt, swtpm, "tpm", "verify").expect(0)
    run_fly(rkt, swtpm, inspect_image)[0].expect(0)
    measured(rkt, swtpm, "tpm", "verify").expect(0)
