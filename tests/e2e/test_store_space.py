"""A full disk during a fetch (docs/architecture.md, "Image store"): the fetch says so in one
line, leaves no half blob and an intact index, the images already stored still run, and
`rkt image gc` reclaims partial downloads no fetch is writing. The data directory is a small
tmpfs; the images that do not fit come from an OCI layout and from a registry."""

from __future__ import annotations

import os
import subprocess

import pytest

import harness
from harness import images, oci_pack as op, one_error_line, pack, require_root, require_stage1
from registry_harness import FakeRegistry

FLY = "--stage1=fly"
DATA_DIR_BYTES = 24 << 20
TOO_BIG = 40 << 20


@pytest.fixture
def small_disk(rkt):
    """`rkt` with a tmpfs of DATA_DIR_BYTES as its data directory (unmounted by its cleanup)."""
    require_root()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DATA_DIR_BYTES},mode=0755",
                          "tmpfs", str(rkt.data_dir)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.strip()}")
    return rkt


@pytest.fixture
def big_image(inspect_binary):
    """inspect plus TOO_BIG bytes that do not compress."""
    return op.Image(layers=[images.inspect_entries(inspect_binary),
                            [op.File("filler", os.urandom(TOO_BIG))]],
                    entrypoint=["/inspect"], compression="none").build()


def store_state(rkt):
    cas = rkt.data_dir / "cas"
    images = rkt.run("image", "list", "--full", "--no-legend").expect(0).out
    blobs = sorted(p.name for p in (cas / "blobs" / "sha256").iterdir())
    tmp = sorted(p.name for p in (cas / "tmp").iterdir())
    locks = sorted(p.name for p in (cas / "locks").iterdir() if p.name.startswith("tmp-"))
    return images, blobs, tmp, locks


def expect_store_as_it_was(rkt, before, inspect_image):
    images, blobs, tmp, locks = store_state(rkt)
    assert images == before[0]
    assert blobs == before[1]  # not even a whole blob of the failed fetch stays
    assert tmp == [] and locks == [], (tmp, locks)  # no half blob, no staging left
    rkt.run("image", "verify").expect(0)
    res, _ = rkt.run_pod(FLY, inspect_image.arg, "--", "--print-msg=still runs")
    res.expect(0)
    assert "still runs" in res.out


@pytest.mark.parametrize("source", ["oci-layout", "registry"])
def test_a_fetch_that_does_not_fit(small_disk, build_dir, inspect_image, big_image, tmp_path,
                                   source):
    require_stage1(build_dir, "fly")
    rkt = small_disk
    rkt.run("fetch", inspect_image.arg).expect(0)
    before = store_state(rkt)
    if source == "registry":
        registry = FakeRegistry()
        try:
            registry.add_image(big_image, "v1")
            rkt.insecure_options = "http,image"
            res = rkt.run("fetch", registry.ref("big/image:v1"), timeout=300)
        finally:
            registry.stop()
            rkt.insecure_options = "image"
        what = "blob sha256:"
    else:
        layout = pack(big_image, tmp_path / "big")
        res = rkt.run("fetch", layout.arg, timeout=300)
        what = "image " + str(layout.path)
    line = one_error_line(res, "no space left on device while writing " + what,
                          f"to {rkt.data_dir}/cas; free space or run `rkt image gc`",
                          allow_warnings=True)
    assert "No space left" not in line  # the errno's own words are replaced, not appended
    expect_store_as_it_was(rkt, before, inspect_image)


def test_image_gc_reclaims_partial_downloads(rkt, big_image, inspect_image):
    """A fetch killed mid-download leaves a partial blob for a later fetch to resume; gc keeps it
    for its grace period and removes it with --grace-period=0s."""
    import signal
    import time
    registry = FakeRegistry()
    try:
        registry.add_image(big_image, "v1")
        registry.throttle = 1 << 20  # bytes per second: the fetch is still running when killed
        rkt.insecure_options = "http,image"
        proc = rkt.spawn("fetch", registry.ref("big/image:v1"))
        tmp = rkt.data_dir / "cas" / "tmp"
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".partial") and p.stat().st_size > 0
                      for p in (tmp.iterdir() if tmp.exists() else [])):
            assert time.monotonic() < deadline, "no partial blob appeared"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        # While the fetch writes it, gc leaves it alone.
        rkt.run("image", "gc", "--grace-period=0s").expect(0)
        assert any(p.name.endswith(".partial") for p in tmp.iterdir())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        registry.stop()
        rkt.insecure_options = "image"
    partials = [p.name for p in tmp.iterdir() if p.name.endswith(".partial")]
    assert partials, "the killed fetch's partial blob is kept for a resume"
    rkt.run("image", "gc").expect(0)  # the default grace period (24h) keeps it
    assert [p.name for p in tmp.iterdir() if p.name.endswith(".partial")] == partials
    rkt.run("image", "gc", "--grace-period=0s").expect(0)
    assert not any(p.name.endswith(".partial") for p in tmp.iterdir())
