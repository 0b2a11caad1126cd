"""A hostile registry (a Python front that lies), and a fetch killed with SIGKILL: each failure is
one clear line with exit code 254, and the store stays intact with nothing half-written in it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from harness import oci_pack as op, one_error_line
from registry_harness import FakeRegistry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def expect_one_line_error(res, *fragments) -> str:
    return one_error_line(res, *fragments, allow_warnings=True)


def expect_store_intact(rkt) -> None:
    """No image registered, `image verify` clean, and no blob outside the verified ones."""
    res = rkt.run("image", "list", "--format=json").expect(0)
    assert json.loads(res.out) == [], res.out
    rkt.run("image", "verify").expect(0)
    blobs = rkt.data_dir / "cas" / "blobs" / "sha256"
    for blob in (blobs.iterdir() if blobs.is_dir() else []):
        import hashlib
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob


@pytest.fixture
def fake():
    reg = FakeRegistry()
    yield reg
    reg.stop()


@pytest.fixture
def image():
    return op.Image(layers=[[op.File("a", os.urandom(200_000))], [op.File("b", b"second layer")]],
                    cmd=["/a"], compression="none").build()


@pytest.fixture
def fetcher(rkt):
    rkt.insecure_options = "http,image"
    return rkt


def test_honest_fake_registry_works(fake, fetcher, image):
    fake.add_image(image, "v1")
    res = fetcher.run("fetch", "--full", fake.ref("x/y:v1")).expect(0)
    assert res.out.strip() == image.id
    fetcher.run("image", "verify").expect(0)


def test_blob_with_wrong_digest(fake, fetcher, image):
    fake.add_image(image, "v1")
    layer = image.layers[0]
    fake.wrong_blob[layer.digest] = bytes(len(layer.blob))
    expect_one_line_error(fetcher.run("fetch", fake.ref("x/y:v1")), layer.digest, "digest mismatch")
    expect_store_intact(fetcher)


def test_truncated_blob(fake, fetcher, image):
    fake.add_image(image, "v1")
    layer = image.layers[0]
    fake.truncate[layer.digest] = len(layer.blob) // 2
    expect_one_line_error(fetcher.run("fetch", fake.ref("x/y:v1")), layer.digest)
    expect_store_intact(fetcher)
    # The registry heals: the partial data is resumed and the fetch succeeds.
    del fake.truncate[layer.digest]
    fetcher.run("fetch", fake.ref("x/y:v1")).expect(0)
    fetcher.run("image", "verify").expect(0)


def test_huge_manifest(fake, fetcher):
    fake.huge_manifest["v1"] = 200 << 20
    expect_one_line_error(fetcher.run("fetch", fake.ref("x/y:v1"), timeout=60), "limit")
    expect_store_intact(fetcher)


def test_manifest_not_matching_its_digest(fake, fetcher, image):
    fake.add_image(image, "v1")
    other = op.Image(layers=[[op.File("c", b"other")]], cmd=["/c"]).build()
    fake.manifests[image.manifest_digest] = (other.manifest_media_type, other.manifest)
    expect_one_line_error(fetcher.run("fetch", fake.ref(f"x/y@{image.manifest_digest}")),
                          "hashes to")
    expect_store_intact(fetcher)


def test_index_chain_without_end(fake, fetcher, image):
    # Each index names the next one for this platform; content addressing makes a true cycle
    # impossible, so a hostile registry can only nest without end.
    fake.add_image(image, "leaf")
    entry = image.descriptor(platform=True)
    for level in range(10):
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
        digest = fake.add_manifest(OCI_INDEX, body, tag="v1" if level == 9 else None)
        entry = {"mediaType": OCI_INDEX, "digest": digest, "size": len(body),
                 "platform": {"os": "linux", "architecture": "amd64"}}
    expect_one_line_error(fetcher.run("fetch", fake.ref("x/y:v1")), "nested deeper")
    expect_store_intact(fetcher)


def test_index_without_this_platform(fake, fetcher, image):
    arm = op.Image(layers=[[op.File("c", b"arm")]], cmd=["/c"], architecture="arm64").build()
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [arm.descriptor(platform=True)]}).encode()
    fake.add_manifest(OCI_INDEX, body, tag="v1")
    expect_one_line_error(fetcher.run("fetch", fake.ref("x/y:v1")), "no manifest for linux/",
                          "linux/arm64")


def test_unknown_tag(fake, fetcher):
    expect_one_line_error(fetcher.run("fetch", fake.ref("x/y:nope")), "not found")


def test_kill_during_download_then_resume(fake, fetcher):
    big = op.Image(layers=[[op.File("big", os.urandom(8 << 20))], [op.File("small", b"s")]],
                   cmd=["/big"], compression="none").build()
    fake.add_image(big, "v1")
    layer = big.layers[0]
    fake.throttle = 1 << 20  # 1 MiB/s: the fetch is surely mid-download when killed
    proc = fetcher.spawn("fetch", fake.ref("x/y:v1"))
    tmp = fetcher.data_dir / "cas" / "tmp"
    deadline = time.monotonic() + 60
    partial = None
    while time.monotonic() < deadline:
        found = [p for p in tmp.glob("*") if p.is_file() and layer.digest[7:] in p.name
                 and p.stat().st_size > 0] if tmp.is_dir() else []
        if found:
            partial = found[0]
            break
        time.sleep(0.05)
    assert partial is not None, "the download never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    held = partial.stat().st_size
    assert 0 < held < len(layer.blob)
    # Nothing half-written is visible: no image, and verify is clean.
    expect_store_intact(fetcher)

    fake.throttle = None
    res = fetcher.run("fetch", "--full", fake.ref("x/y:v1")).expect(0)
    assert res.out.strip() == big.id
    ranges = [r for _, _, r in fake.blob_requests(layer.digest) if r]
    assert ranges and ranges[-1].startswith("bytes=") and int(ranges[-1][6:-1]) >= held, ranges
    fetcher.run("image", "verify").expect(0)
