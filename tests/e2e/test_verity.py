"""The kvm stage1's app disks are verified by the guest with dm-verity: the store appends a hash
tree to each erofs image and keeps its parameters beside it (erofs/<id>.verity), stage0 copies
them into the pod (appsinfo/<app>/image.verity), and guest-init mounts the app's image through a
verity target. A disk changed on the host after the pod was prepared ends the pod (the guest
kernel panics at the first bad block: exit 254 and one line naming dm-verity); `rkt image
verify` finds the changed image in the store and moves it away, and the next pod gets it built
anew. Tree pods (fly, nspawn) get the tree's digest instead (appsinfo/<app>/tree.digest). Tests
taking `engine` run with QEMU and with the built-in VMM (inside the KVM test host where this
host's KVM cannot run Linux guests: test_kvm_builtin.py lists this file). Needs root, the guest
kernel, guest-init and QEMU; veritysetup (cryptsetup-bin) for the cross-check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import images, pack, require_stage1
from stage1_pods import run
from kvm_pods import _kvm, _no_leftovers, engine  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

# Lines that each appear once, so one of them locates a data block of the file in the image.
MARKER = b"".join(b"verity-marker-%08d\n" % i for i in range(16384))  # 384 KiB
PROBE = b"verity-marker-00008000\n"


@pytest.fixture(scope="module")
def verity_image(inspect_binary, tmp_path_factory):
    """/inspect and /data/marker (MARKER), uncompressed, named "verity"."""
    root = tmp_path_factory.mktemp("verity-image")
    layer = root / "layer"
    (layer / "data").mkdir(parents=True)
    (layer / "data" / "marker").write_bytes(MARKER)
    (layer / "data" / "hello").write_text("hello from a verified disk\n")
    image = images.inspect_image(inspect_binary, labels={"name": "verity"})
    image.layers.append(str(layer))
    return pack(image, root / "oci")


def veritysetup() -> str:
    for candidate in (shutil.which("veritysetup"), "/usr/sbin/veritysetup", "/sbin/veritysetup"):
        if candidate and Path(candidate).exists():
            return candidate
    return ""


def app_info(pod_dir: Path) -> Path:
    """appsinfo/<app> of the pod's one app."""
    (info,) = list((pod_dir / "appsinfo").iterdir())
    return info


def verity_params(pod_dir: Path) -> dict:
    return json.loads((app_info(pod_dir) / "image.verity").read_text())


def disk_of(pod_dir: Path) -> Path:
    """The file the stage1 hands the VMM as the app's disk: image.erofs, resolved."""
    return (app_info(pod_dir) / "image.erofs").resolve()


def veritysetup_verify(image: Path, p: dict) -> int:
    return subprocess.run([veritysetup(), "verify", "--no-superblock", f"--salt={p['salt']}",
                           f"--data-blocks={p['data_blocks']}", f"--hash-offset={p['hash_offset']}",
                           str(image), str(image), p["root_hash"]],
                          capture_output=True).returncode


def test_app_reads_its_verified_disk(rkt, engine, verity_image):
    res, uuid = run(rkt, engine, verity_image, "--read-file=/data/hello",
                    "--read-file=/sys/block/dm-0/dm/name")
    res.expect(0)
    assert "/data/hello: hello from a verified disk" in res.out, repr(res)
    # The image is mounted from the dm-verity device guest-init made for app 0, not the disk.
    assert "/sys/block/dm-0/dm/name: rkt-app-0" in res.out, repr(res)

    pod_dir = rkt.pod_dir(uuid)
    p = verity_params(pod_dir)
    assert set(p) == {"version", "algorithm", "data_block_size", "hash_block_size",
                      "data_blocks", "hash_offset", "salt", "root_hash"}
    assert (p["version"], p["algorithm"], p["data_block_size"], p["hash_block_size"]) == \
        (1, "sha256", 4096, 4096)
    assert p["hash_offset"] == p["data_blocks"] * 4096
    assert re.fullmatch(r"[0-9a-f]{64}", p["salt"]) and re.fullmatch(r"[0-9a-f]{64}",
                                                                     p["root_hash"])
    image = disk_of(pod_dir)
    # The pod's copy is the store's sidecar.
    sidecar = image.with_suffix(".verity")
    assert json.loads(sidecar.read_text()) == p
    if veritysetup():
        assert veritysetup_verify(image, p) == 0


def test_a_disk_changed_after_prepare_fails_the_pod(rkt, engine, verity_image):
    # The app reads the whole marker file, so it meets the changed block.
    uuid = rkt.run("prepare", "--quiet", engine.flag, verity_image.arg, "--",
                   "--read-file=/data/marker").expect(0).out.strip()
    pod_dir = rkt.pod_dir(uuid)
    image = disk_of(pod_dir)
    p = verity_params(pod_dir)
    data = image.read_bytes()
    at = data.find(PROBE)
    assert at > 0 and data.count(PROBE) == 1 and at < p["hash_offset"], \
        "the marker is not stored as it is in the image"
    with open(image, "r+b") as f:
        f.seek(at)
        f.write(b"V")
    if veritysetup():
        assert veritysetup_verify(image, p) != 0

    res = rkt.run("run-prepared", uuid, timeout=300)
    assert res.code == 254, repr(res)
    assert "dm-verity" in res.err, repr(res)
    assert "verity-marker-00008000" not in res.out  # the changed block never reached the app
    assert rkt.status(uuid)["state"] == "exited"

    # The store notices its own image was changed: verify names it and moves it away ...
    check = rkt.run("image", "verify")
    assert check.code != 0, repr(check)
    assert "does not match the root hash " + p["root_hash"] in check.out + check.err, repr(check)
    assert not image.exists()
    # ... and the next pod gets the image built again, which verifies.
    res, uuid2 = run(rkt, engine, verity_image, "--read-file=/data/hello")
    res.expect(0)
    again = verity_params(rkt.pod_dir(uuid2))
    assert again["salt"] != p["salt"]
    assert rkt.run("image", "verify").code == 0


def test_tree_pods_get_the_tree_digest(rkt, build_dir, verity_image):
    require_stage1(build_dir, "fly")
    uuid = rkt.run("prepare", "--quiet", "--stage1=fly", verity_image.arg).expect(0).out.strip()
    info = app_info(rkt.pod_dir(uuid))
    digest = (info / "tree.digest").read_text()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", digest), digest
    assert not (info / "image.verity").exists()
    # The same image gives the same digest, kept in the store beside its tree.
    uuid2 = rkt.run("prepare", "--quiet", "--stage1=fly", verity_image.arg).expect(0).out.strip()
    assert (app_info(rkt.pod_dir(uuid2)) / "tree.digest").read_text() == digest
    kept = list((rkt.data_dir / "cas" / "tree").glob("*/.digest"))
    assert [k.read_text() for k in kept] == [digest]
