"""`rkt run --pod-manifest=FILE` and `rkt prepare --pod-manifest=FILE`: an appc PodManifest
names the apps (their images must already be in the store), and stage0 fills what it leaves out
from each image, as for apps given on the command line. Runs through fly, nspawn and kvm-qemu;
bad input exits 254 with one line and leaves the store and the pods as they were."""

from __future__ import annotations

import json

import pytest

import harness
from harness import one_error_line, require_stage1
from stage1_pods import STAGE1S, line, remove_pods

FLY = "--stage1=fly"
NSPAWN = STAGE1S["nspawn"].flag


@pytest.fixture(autouse=True)
def _remove_pods(rkt):
    yield
    remove_pods(rkt)


@pytest.fixture
def stored(rkt, inspect_image):
    """The inspect image imported into the test's store (as "inspect:latest"); its id."""
    rkt.run("fetch", inspect_image.arg).expect(0)
    return inspect_image.id


def app(name, image, exec_=None, **fields):
    """A runtime app of a pod manifest; `fields` go into its "app" section."""
    section = dict(fields)
    if exec_ is not None:
        section["exec"] = exec_
    entry = {"name": name, "image": image}
    if section:
        entry["app"] = section
    return entry


def manifest(*apps, volumes=(), **extra):
    return {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": list(apps),
            "volumes": list(volumes), **extra}


def write(rkt, doc, name="pod.json"):
    path = rkt.scratch / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return path


def store_and_pods(rkt):
    """What bad input must leave alone: the image list, the blobs and the pods."""
    images = rkt.run("image", "list", "--full", "--no-legend").expect(0).out
    blobs = sorted(p.name for p in (rkt.data_dir / "cas").rglob("*") if p.is_file()
                   and "blobs" in p.parts)
    pods = sorted(p.name for p in (rkt.data_dir / "pods").glob("*/*"))
    return images, blobs, pods


def two_apps(image_id):
    """Two apps of one image: by name (user 1000, an extra variable, exit 0) and by id (exit 3,
    after the first has printed)."""
    return manifest(
        app("one", {"name": "inspect", "labels": [{"name": "version", "value": "latest"}]},
            ["/inspect", "--print-msg=from one", "--print-env=VAR_FROM_MANIFEST",
             "--print-env=EXTRA", "--print-user"],
            user="1000", group="1001", environment=[{"name": "EXTRA", "value": "set by the pod"}]),
        app("two", {"id": image_id[:19]},
            ["/inspect", "--sleep=1", "--print-msg=from two", "--print-cwd", "--exit-code=3"],
            workingDirectory="/dev"))


# ---- fly: one app per pod ----

def test_fly_runs_a_pod_manifest(rkt, build_dir, stored):
    require_stage1(build_dir, "fly")
    doc = manifest(app("hello", {"name": "inspect"},
                       ["/inspect", "--print-msg=hello", "--print-env=VAR_FROM_MANIFEST",
                        "--print-env=EXTRA", "--print-user", "--exit-code=4"],
                       user="1000", group="1001",
                       environment=[{"name": "EXTRA", "value": "x"}]))
    res, uuid = rkt.run_pod(FLY, f"--pod-manifest={write(rkt, doc)}")
    assert res.code == 4, repr(res)
    assert "hello" in res.out
    assert "VAR_FROM_MANIFEST=manifest" in res.out  # the image's environment stays
    assert "EXTRA=x" in res.out
    assert line(res.out, "User:") == "uid=1000 euid=1000 gid=1001 egid=1001"
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["app-hello"] == "4"

    # What the manifest leaves out comes from the image: its entrypoint, as root.
    res, uuid = rkt.run_pod(FLY, f"--pod-manifest={write(rkt, manifest(app('bare', {'id': stored})))}")
    res.expect(0)
    assert rkt.status(uuid)["app-bare"] == "0"


def test_fly_refuses_two_apps_as_on_the_command_line(rkt, build_dir, stored):
    require_stage1(build_dir, "fly")
    res = rkt.run("run", FLY, f"--pod-manifest={write(rkt, two_apps(stored))}")
    assert res.code == 254 and "exactly one app" in res.err, repr(res)


# ---- nspawn: several apps, volumes ----

def test_nspawn_runs_two_apps(rkt, build_dir, stored):
    STAGE1S["nspawn"].require(build_dir)
    res, uuid = rkt.run_pod(NSPAWN, f"--pod-manifest={write(rkt, two_apps(stored))}")
    assert res.code == 3, repr(res)
    assert "from one" in res.out and "from two" in res.out
    assert "VAR_FROM_MANIFEST=manifest" in res.out
    assert "EXTRA=set by the pod" in res.out
    assert line(res.out, "User:") == "uid=1000 euid=1000 gid=1001 egid=1001"
    assert line(res.out, "cwd:") == "/dev"
    status = rkt.status(uuid)
    assert status["app-one"] == "0" and status["app-two"] == "3"


def test_nspawn_host_and_empty_volumes(rkt, build_dir, stored, tmp_path):
    STAGE1S["nspawn"].require(build_dir)
    src = tmp_path / "hostdir"
    src.mkdir()
    (src / "file").write_text("host content\n")
    doc = manifest(
        app("vols", {"name": "inspect"},
            ["/inspect", "--read-file=/host/file", "--write-file=/host/new",
             "--content=from the pod", "--write-file=/scratch/f", "--read-file=/scratch/f",
             "--stat-file=/scratch"]),
        volumes=[{"name": "host", "kind": "host", "source": str(src)},
                 {"name": "scratch", "kind": "empty", "mode": "0700"}])
    doc["apps"][0]["mounts"] = [{"volume": "host", "path": "/host"},
                                {"volume": "scratch", "path": "/scratch"}]
    res, uuid = rkt.run_pod(NSPAWN, f"--pod-manifest={write(rkt, doc)}")
    res.expect(0)
    assert "host content" in res.out
    assert (src / "new").read_text() == "from the pod"
    assert "/scratch/f: from the pod" in res.out  # read back from the empty volume
    assert "/scratch: mode: drwx------" in res.out, repr(res)

    # readOnly on the volume holds.
    doc["volumes"][0]["readOnly"] = True
    doc["apps"][0]["app"]["exec"] = ["/inspect", "--write-file=/host/file", "--content=x"]
    res, _ = rkt.run_pod(NSPAWN, f"--pod-manifest={write(rkt, doc, 'ro.json')}")
    assert res.code != 0 and "read-only file system" in (res.out + res.err).lower(), repr(res)
    assert (src / "file").read_text() == "host content\n"


# ---- prepare, cat-manifest, run-prepared ----

def test_prepare_cat_manifest_and_run_prepared(rkt, build_dir, stored):
    STAGE1S["nspawn"].require(build_dir)
    res = rkt.run("prepare", "--quiet", NSPAWN, f"--pod-manifest={write(rkt, two_apps(stored))}")
    res.expect(0)
    uuid = res.out.strip().splitlines()[-1]
    assert rkt.status(uuid)["state"] == "prepared"

    pod = json.loads(rkt.run("cat-manifest", "--pretty-print=false", uuid).expect(0).out)
    assert pod["acKind"] == "PodManifest"
    apps = {a["name"]: a for a in pod["apps"]}
    assert sorted(apps) == ["one", "two"]
    assert apps["one"]["image"]["id"] == stored and apps["two"]["image"]["id"] == stored
    assert apps["one"]["app"]["exec"][0] == "/inspect"
    assert apps["one"]["app"]["user"] == "1000" and apps["one"]["app"]["group"] == "1001"
    env = {e["name"]: e["value"] for e in apps["one"]["app"]["environment"]}
    assert env["EXTRA"] == "set by the pod" and env["VAR_FROM_MANIFEST"] == "manifest"
    assert "PATH" in env
    assert apps["two"]["app"]["workingDirectory"] == "/dev"
    # The same pod directory as the command line makes.
    pod_dir = rkt.pod_dir(uuid)
    for name in ("one", "two"):
        assert (pod_dir / "appsinfo" / name / "manifest").is_file()
        assert (pod_dir / "appsinfo" / name / "rootfs").is_dir()
    assert (pod_dir / "run-options.json").is_file()

    res = rkt.run("run-prepared", uuid)
    assert res.code == 3, repr(res)
    status = rkt.status(uuid)
    assert status["state"] == "exited" and status["app-two"] == "3"

    # What cat-manifest prints is a pod manifest rkt takes back.
    again = write(rkt, json.dumps(pod), "again.json")
    res, uuid2 = rkt.run_pod(NSPAWN, f"--pod-manifest={again}")
    assert res.code == 3, repr(res)
    assert rkt.status(uuid2)["app-one"] == "0"


# ---- kvm (QEMU) ----

def test_kvm_qemu_runs_a_pod_manifest(rkt, build_dir, stored):
    stage1 = STAGE1S["kvm-qemu"]
    stage1.require(build_dir)
    doc = manifest(app("vm", {"name": "inspect"},
                       ["/inspect", "--print-msg=in the vm", "--print-env=EXTRA", "--exit-code=5"],
                       environment=[{"name": "EXTRA", "value": "kvm"}]))
    res, uuid = rkt.run_pod(stage1.flag, f"--pod-manifest={write(rkt, doc)}")
    assert res.code == 5, repr(res)
    assert "in the vm" in res.out and "EXTRA=kvm" in res.out
    assert rkt.status(uuid)["app-vm"] == "5"
    assert (rkt.pod_dir(uuid) / "appsinfo" / "vm" / "image.erofs").exists()


# ---- bad input ----

@pytest.mark.parametrize("case", ["missing file", "invalid json", "not in store", "with images",
                                  "app flag", "relative exec", "undefined volume", "bad name"])
def test_bad_input_is_refused_and_changes_nothing(rkt, build_dir, stored, inspect_image, case):
    require_stage1(build_dir, "fly")
    good = manifest(app("a", {"name": "inspect"}, ["/inspect"]))
    args, needles = [], []
    if case == "missing file":
        args, needles = ["--pod-manifest=/no/such/pod.json"], ["/no/such/pod.json"]
    elif case == "invalid json":
        truncated = json.dumps(good)[:40]
        args, needles = [f"--pod-manifest={write(rkt, truncated)}"], ["not valid JSON"]
    elif case == "not in store":
        doc = manifest(app("a", {"name": "example.com/absent", "labels": [
            {"name": "version", "value": "1.0"}]}))
        args = [f"--pod-manifest={write(rkt, doc)}"]
        needles = ["example.com/absent:1.0", "not in the store", "rkt fetch"]
    elif case == "with images":
        args = [f"--pod-manifest={write(rkt, good)}", inspect_image.arg]
        needles = ["conflicting flags set with --pod-manifest"]
    elif case == "app flag":
        args = [f"--pod-manifest={write(rkt, good)}", "--exec=/inspect"]
        needles = ["conflicting flags set with --pod-manifest"]
    elif case == "relative exec":
        good["apps"][0]["app"]["exec"] = ["inspect"]
        args, needles = [f"--pod-manifest={write(rkt, good)}"], ["exec[0]", "absolute"]
    elif case == "undefined volume":
        good["apps"][0]["mounts"] = [{"volume": "nope", "path": "/x"}]
        args, needles = [f"--pod-manifest={write(rkt, good)}"], ["nope"]
    elif case == "bad name":
        good["apps"][0]["name"] = "Not_Valid"
        args, needles = [f"--pod-manifest={write(rkt, good)}"], ["Not_Valid"]
    before = store_and_pods(rkt)
    for command in ("run", "prepare"):
        one_error_line(rkt.run(command, FLY, *args), *needles)
    assert store_and_pods(rkt) == before


def test_pod_flags_that_the_manifest_sets_are_refused(rkt, stored):
    path = write(rkt, manifest(app("a", {"name": "inspect"}, ["/inspect"])))
    for flag in ("--volume=v,kind=empty", "--mount=volume=v,target=/v", "--set-env=A=1",
                 "--inherit-env", "--port=http:8080", "--pull-policy=update"):
        one_error_line(rkt.run("run", f"--pod-manifest={path}", flag),
                       "conflicting flags set with --pod-manifest")


def test_pod_level_flags_are_kept(rkt, build_dir, stored):
    STAGE1S["nspawn"].require(build_dir)
    doc = manifest(app("a", {"name": "inspect"}, ["/inspect", "--print-hostname"]))
    uuid_file = rkt.uuid_file()
    res = rkt.run("run", NSPAWN, "--hostname=from-flag", "--net=none",
                  f"--uuid-file-save={uuid_file}", f"--pod-manifest={write(rkt, doc)}")
    res.expect(0)
    assert line(res.out, "Hostname:") == "from-flag"
    assert uuid_file.exists()
    two = write(rkt, two_apps(stored), "two.json")
    one_error_line(rkt.run("run", NSPAWN, "--interactive", f"--pod-manifest={two}"),
                   "interactive option only supports one image")
