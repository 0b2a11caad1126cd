"""Who may reach what rkt keeps (docs/architecture.md, "The data directory"): another user cannot
execute a set-user-id file of an image or a pod, read an image's files or open a device node an
image ships; members of the "rkt" group read pods (list, status) and nothing of their apps;
root refuses a data directory another user could change; a data directory of an older rkt is
tightened when root opens it."""

from __future__ import annotations

import grp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import harness
from harness import oci_pack as op, one_error_line, pack, require_root, require_stage1

FLY = "--stage1=fly"
NOBODY = 65534

# Run as another user: tries each path (open, then execute for files) and reports what happened.
PROBE = r"""
import json, os, subprocess, sys
out = {}
for path in sys.argv[1:]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.close(fd)
        result = "opened"
        if os.path.isfile(path) and os.stat(path).st_mode & 0o111:
            run = subprocess.run([path, "--print-user"], capture_output=True, text=True, timeout=30)
            result = "executed: " + run.stdout.strip()
    except OSError as e:
        result = e.strerror
    out[path] = result
print(json.dumps(out))
"""


@pytest.fixture(autouse=True)
def _root_only():
    require_root()


@pytest.fixture
def public(tmp_path):
    """A root for rkt's directories that every user may enter (a test's tmp_path may not be), and
    a copy of rkt there for other users."""
    top = Path(tempfile.mkdtemp(prefix="rkt-store-security-", dir="/tmp"))
    os.chmod(top, 0o755)
    yield top
    harness.unmount_all_under(top)
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def root_rkt(rkt_binary, public):
    runner = harness.Rkt(rkt_binary, public / "rkt")
    try:
        yield runner
    finally:
        runner.cleanup()


@pytest.fixture
def other_rkt(rkt_binary, public, root_rkt):
    """The same data directory, through a copy of rkt that any user may execute."""
    bin_dir = public / "bin"
    bin_dir.mkdir()
    return harness.Rkt(shutil.copy2(rkt_binary, bin_dir), root_rkt.root)


@pytest.fixture(scope="module")
def rkt_group():
    """The "rkt" group's gid: the machine's, or one made for this module and removed after."""
    try:
        yield grp.getgrnam("rkt").gr_gid
        return
    except KeyError:
        pass
    harness.require_command("groupadd", "passwd")
    subprocess.run(["groupadd", "--system", "rkt"], check=True)
    try:
        yield grp.getgrnam("rkt").gr_gid
    finally:
        subprocess.run(["groupdel", "rkt"], check=False)


def as_nobody(argv, groups=(), timeout=120):
    """Runs argv as uid and gid 65534 with these supplementary groups."""
    return subprocess.run([str(a) for a in argv], user=NOBODY, group=NOBODY,
                          extra_groups=list(groups), capture_output=True, text=True,
                          timeout=timeout)


def probe(paths, groups=()):
    res = as_nobody([sys.executable, "-c", PROBE, *paths], groups)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def run_as_nobody(rkt, *args, groups=()):
    res = as_nobody(rkt.command(*args), groups)
    return harness.Result(rkt.command(*args), res.returncode, res.stdout, res.stderr)


def hostile_image(inspect_binary, tmp_path):
    """/inspect, a set-user-id-root copy of it, a device node anyone may open, and a secret."""
    inspect = Path(inspect_binary).read_bytes()
    return pack(op.Image(layers=[[op.File("inspect", inspect, mode=0o755),
                                  op.File("suid-inspect", inspect, mode=0o4755),
                                  op.CharDevice("null-device", 1, 3, mode=0o666),
                                  op.File("secret", b"the image's own secret\n", mode=0o644)]],
                         entrypoint=["/inspect"], labels={"name": "hostile"}),
                tmp_path / "hostile")


def app_file_paths(rkt, image_id, overlay_pod, copy_pod):
    """Where an image's files are in the store and in pods (rendered tree, a fly pod's overlay
    upper layer, a --no-overlay copy)."""
    cas = rkt.data_dir / "cas"
    tree = cas / "tree" / image_id / "rootfs"
    upper = next((rkt.pod_dir(overlay_pod) / "apps").glob("*/upper"))
    copy = next((rkt.pod_dir(copy_pod) / "appsinfo").glob("*/rootfs"))
    blob = next((cas / "blobs" / "sha256").iterdir())
    return [tree / "suid-inspect", tree / "null-device", tree / "secret", blob,
            upper / "up-suid", upper / "up-null",
            copy / "suid-inspect", copy / "null-device", copy / "secret"]


def pods_with_app_files(rkt, busybox_image, image):
    """A fly pod whose app made a set-user-id file and a device node in its overlay, and a
    --no-overlay pod of `image`."""
    res, overlay_pod = rkt.run_pod(FLY, busybox_image.arg, "--exec=/bin/sh", "--", "-c",
                                   "cp /inspect /up-suid && chmod 4755 /up-suid && "
                                   "mknod -m 666 /up-null c 1 3")
    res.expect(0)
    res, copy_pod = rkt.run_pod(FLY, "--no-overlay", image.arg, "--", "--print-msg=copied")
    res.expect(0)
    return overlay_pod, copy_pod


def assert_unreachable(results):
    for path, result in results.items():
        assert result == "Permission denied", (path, result)


def test_without_a_rkt_group_only_root_reads(root_rkt, other_rkt, build_dir, inspect_image):
    try:
        grp.getgrnam("rkt")
        pytest.skip("this machine has a rkt group")
    except KeyError:
        pass
    require_stage1(build_dir, "fly")
    res, uuid = root_rkt.run_pod(FLY, inspect_image.arg)
    res.expect(0)
    st = os.stat(root_rkt.data_dir)
    assert (st.st_mode & 0o7777, st.st_gid) == (0o700, 0)
    one_error_line(run_as_nobody(other_rkt, "status", uuid), "cannot read the pods of",
                   "no \"rkt\" group")


def test_other_users_reach_nothing_of_images_and_pods(root_rkt, build_dir, inspect_binary,
                                                     busybox_image, tmp_path, rkt_group):
    require_stage1(build_dir, "fly")
    image = hostile_image(inspect_binary, tmp_path)
    image_id = root_rkt.run("fetch", "--full", image.arg).expect(0).out.strip()
    overlay_pod, copy_pod = pods_with_app_files(root_rkt, busybox_image, image)
    paths = app_file_paths(root_rkt, image_id, overlay_pod, copy_pod)
    assert os.stat(paths[0]).st_mode & 0o4000, "the store keeps the image's set-user-id bit"

    # A stranger cannot even look into the data directory; a member of the rkt group reads the
    # pods' own files, never an app's.
    assert_unreachable(probe(paths))
    assert_unreachable(probe([root_rkt.data_dir / "pods", root_rkt.data_dir / "cas"]))
    assert_unreachable(probe(paths, groups=[rkt_group]))
    assert_unreachable(probe([root_rkt.data_dir / "cas"], groups=[rkt_group]))
    member_view = probe([root_rkt.pod_dir(copy_pod) / "pod"], groups=[rkt_group])
    assert list(member_view.values()) == ["opened"], member_view

    st = os.stat(root_rkt.data_dir)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o2750, 0, rkt_group)
    for private in ("appsinfo", "apps", "overlay", "sharedVolumes", "volumes"):
        st = os.stat(root_rkt.pod_dir(overlay_pod) / private)
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o700, 0, 0), private


def test_an_older_world_readable_data_dir_is_tightened(root_rkt, build_dir, inspect_binary,
                                                      busybox_image, tmp_path, rkt_group):
    require_stage1(build_dir, "fly")
    image = hostile_image(inspect_binary, tmp_path)
    image_id = root_rkt.run("fetch", "--full", image.arg).expect(0).out.strip()
    overlay_pod, copy_pod = pods_with_app_files(root_rkt, busybox_image, image)
    paths = app_file_paths(root_rkt, image_id, overlay_pod, copy_pod)
    # What an older rkt left: the data directory, pods/ and the store 0755, root's group (its
    # pod directories were 0750 already).
    data = root_rkt.data_dir
    for d in [data, data / "pods", *(data / "pods").iterdir(), data / "locks", data / "cas",
              *(p for p in (data / "cas").iterdir() if p.is_dir()), data / "cas/blobs/sha256"]:
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)
    for pod in (overlay_pod, copy_pod):
        os.chown(root_rkt.pod_dir(pod), 0, 0)
        os.chmod(root_rkt.pod_dir(pod), 0o750)
    paths = paths[:4]  # the store's: pods were never open to others
    results = probe(paths)
    assert results[str(paths[0])].startswith("executed: "), results
    assert "euid=0" in results[str(paths[0])], results  # what the old modes allowed

    root_rkt.run("list").expect(0)  # root opens it
    assert_unreachable(probe(paths))
    assert_unreachable(probe(paths, groups=[rkt_group]))
    assert os.stat(root_rkt.data_dir).st_mode & 0o7777 == 0o2750


def test_root_refuses_a_data_dir_another_user_could_change(root_rkt, build_dir, inspect_image):
    require_stage1(build_dir, "fly")
    root_rkt.run("fetch", inspect_image.arg).expect(0)
    data = root_rkt.data_dir
    os.chown(data, 1000, 1000)
    for args in (["image", "list"], ["list"], ["run", FLY, inspect_image.arg]):
        one_error_line(root_rkt.run(*args), str(data) + " is owned by uid 1000",
                       "chown -R root:root", "--dir")
    os.chown(data, 0, 0)
    # A part planted by another user, down to the store's trees and the pods' state directories.
    for part in ("cas", "cas/tree", "cas/tmp", "pods", "pods/run", "locks"):
        os.chown(data / part, 1000, 1000)
        one_error_line(root_rkt.run("run", FLY, inspect_image.arg),
                       f"{data / part} is owned by uid 1000")
        os.chown(data / part, 0, 0)
    tree = data / "cas" / "tree"
    shutil.rmtree(tree)
    tree.symlink_to("/etc")
    one_error_line(root_rkt.run("image", "list"), f"{tree} is not a directory")
    tree.unlink()
    res, _ = root_rkt.run_pod(FLY, inspect_image.arg, "--", "--print-msg=trusted again")
    res.expect(0)
    assert "trusted again" in res.out


def spawn_sleeping_pod(rkt, image):
    proc, uuid = rkt.spawn_pod(FLY, image.arg, "--", "--sleep=120")
    return proc, uuid


def test_list_and_status_as_a_member_and_as_a_stranger(root_rkt, other_rkt, build_dir,
                                                      inspect_image, rkt_group):
    require_stage1(build_dir, "fly")
    proc, uuid = spawn_sleeping_pod(root_rkt, inspect_image)

    for args in (["list"], ["status", uuid]):
        one_error_line(run_as_nobody(other_rkt, *args), "cannot read the pods of",
                       "Permission denied", 'the "rkt" group')

    member = [rkt_group]
    listed = run_as_nobody(other_rkt, "list", "--no-legend", "--full", groups=member)
    assert listed.code == 0, repr(listed)
    assert uuid in listed.out and "running" in listed.out, listed.out
    status = run_as_nobody(other_rkt, "status", uuid, groups=member)
    assert status.code == 0, repr(status)
    assert harness.parse_key_values(status.out)["state"] == "running", status.out
    as_json = run_as_nobody(other_rkt, "list", "--format=json", groups=member)
    assert [p["state"] for p in json.loads(as_json.out)] == ["running"], as_json.out
    # The image store stays root's.
    one_error_line(run_as_nobody(other_rkt, "image", "list", groups=member), "need root")

    # A pod directory its group may not open (as an older rkt made them): no state is guessed.
    pod_dir = root_rkt.pod_dir(uuid)
    os.chown(pod_dir, 0, 0)
    os.chmod(pod_dir, 0o750)
    status = run_as_nobody(other_rkt, "status", uuid, groups=member)
    assert status.code == 0, repr(status)
    values = harness.parse_key_values(status.out)
    assert values["state"] == "unknown (not permitted)" and values["exited"] == "unknown", status.out
    listed = run_as_nobody(other_rkt, "list", "--no-legend", groups=member)
    assert "unknown (not permitted)" in listed.out, listed.out
    one_error_line(run_as_nobody(other_rkt, "status", "--wait=5s", uuid, groups=member),
                   "may not probe its lock")
    os.chown(pod_dir, 0, rkt_group)

    root_rkt.run("stop", uuid).expect(0)
    proc.wait(timeout=60)
    status = run_as_nobody(other_rkt, "status", uuid, groups=member)
    assert harness.parse_key_values(status.out)["state"] == "exited", status.out
