"""rkt's command line end to end, with the fly stage1: every command of the foundation, its
output formats and exit codes, and bad input that must fail with one clear line (exit 254)
while the image store and other pods stay intact."""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile

import pytest

import harness
from harness import images, oci_pack as op, one_error_line, pack, require_stage1

FLY = "--stage1=fly"


@pytest.fixture
def fly(build_dir):
    require_stage1(build_dir, "fly")


def store_snapshot(rkt):
    """What must not change when an import fails: the image list and the blobs on disk."""
    code, out, _ = rkt.run("image", "list", "--full", "--no-legend")
    assert code == 0
    blobs = sorted(p.name for p in (rkt.data_dir / "cas" / "blobs").rglob("*") if p.is_file()) \
        if (rkt.data_dir / "cas" / "blobs").exists() else []
    return out, blobs


# ---- version, help ----------------------------------------------------------------------------

def test_version(rkt):
    res = rkt.run("version").expect(0)
    assert res.out.startswith("rkt Version:")
    assert "appc Version:" in res.out


@pytest.mark.parametrize("cmd", [[], ["run"], ["prepare"], ["run-prepared"], ["list"], ["status"],
                                 ["stop"], ["rm"], ["gc"], ["cat-manifest"], ["fetch"], ["enter"],
                                 ["image"], ["image", "list"], ["image", "rm"], ["image", "gc"],
                                 ["image", "export"], ["image", "extract"], ["image", "render"],
                                 ["image", "cat-manifest"], ["image", "verify"], ["version"]])
def test_help_everywhere(rkt, cmd):
    res = rkt.run(*cmd, "--help")
    assert res.code == 0, repr(res)
    assert "Usage:" in res.out or "Options:" in res.out


def test_unknown_command_and_flag(rkt):
    one_error_line(rkt.run("frobnicate"))
    one_error_line(rkt.run("list", "--bogus"))
    one_error_line(rkt.run("--insecure-options=everything", "list"), "everything")


# ---- run, status, list, rm, gc ------------------------------------------------------------------

def test_run_prints_and_exits_with_the_app_code(rkt, fly, inspect_image):
    for code in (0, 1, 3):
        res, uuid = rkt.run_pod(FLY, inspect_image.arg, "--exec=/inspect", "--",
                                "--print-msg=hello", f"--exit-code={code}")
        assert res.code == code, repr(res)
        assert "hello" in res.out
        st = rkt.status(uuid)
        assert st["state"] == "exited"
        assert st["exited"] == "true"
        assert st["app-inspect"] == str(code)
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", st["created"])
        assert "started" in st and "pid" in st


def test_list_formats(rkt, fly, inspect_image):
    res, uuid = rkt.run_pod(FLY, inspect_image.arg)
    res.expect(0)
    out = rkt.run("list").expect(0).out.splitlines()
    assert out[0].split() == ["UUID", "APP", "IMAGE", "NAME", "STATE", "CREATED", "STARTED", "NETWORKS"]
    assert out[1].split()[0] == uuid[:8] and "exited" in out[1]
    no_legend = rkt.run("list", "--no-legend").expect(0).out.splitlines()
    assert len(no_legend) == 1 and not no_legend[0].startswith("UUID")
    full = rkt.run("list", "--full").expect(0).out.splitlines()
    assert "IMAGE ID" in full[0] and full[1].split()[0] == uuid
    pods = json.loads(rkt.run("list", "--format=json").expect(0).out)
    assert pods[0]["name"] == uuid and pods[0]["state"] == "exited"
    assert pods[0]["app_names"] == ["inspect"]
    assert pods[0]["apps"][0]["exit_code"] == 0
    pretty = rkt.run("list", "--format=json-pretty").expect(0).out
    assert "\n" in pretty.strip() and json.loads(pretty) == pods
    one_error_line(rkt.run("list", "--format=yaml"), "json")


def test_status_uuid_file_prefix_and_json(rkt, fly, inspect_image):
    res, uuid = rkt.run_pod(FLY, inspect_image.arg, "--", "--exit-code=2")
    assert res.code == 2
    f = rkt.scratch / "uuid"
    f.write_text(uuid + "\n")
    assert rkt.status(uuid[:6])["app-inspect"] == "2"
    code, out, _ = rkt.run("status", f"--uuid-file={f}")
    assert code == 0 and "state=exited" in out
    j = json.loads(rkt.run("status", "--format=json", uuid).expect(0).out)
    assert j["name"] == uuid and j["apps"][0]["exit_code"] == 2
    one_error_line(rkt.run("status"), "UUID")
    one_error_line(rkt.run("status", "0f746094-3438-42bc-ab37-3cf85f132e60"), "no matches found")
    # --wait on an exited pod returns at once; with a duration too.
    rkt.run("status", "--wait", uuid).expect(0)
    rkt.run("status", "--wait=5s", uuid).expect(0)


def test_ambiguous_prefix(rkt, fly, inspect_image):
    uuids = set()
    while True:
        _, uuid = rkt.run_pod(FLY, inspect_image.arg)
        if any(u[0] == uuid[0] for u in uuids):
            first = uuid[0]
            break
        uuids.add(uuid)
    one_error_line(rkt.run("status", first), "ambiguous")


def test_rm_and_gc(rkt, fly, inspect_image):
    _, exited = rkt.run_pod(FLY, inspect_image.arg)
    res = rkt.run("rm", exited).expect(0)
    assert res.out.strip() == f'"{exited}"'
    for d in ("run", "prepared", "exited-garbage"):
        assert not any((rkt.data_dir / "pods" / d).iterdir())
    one_error_line(rkt.run("rm", "0f746094-3438-42bc-ab37-3cf85f132e60"), "no matches found")
    one_error_line(rkt.run("rm", ""), "UUID cannot be empty")

    _, a = rkt.run_pod(FLY, inspect_image.arg)
    prepared = rkt.run("prepare", "--quiet", FLY, inspect_image.arg).expect(0).out.strip()
    assert len(prepared) == 36
    rkt.run("gc", "--mark-only", "--expire-prepared=0s", "--grace-period=0s").expect(0)
    assert (rkt.data_dir / "pods" / "exited-garbage" / a).is_dir()
    res = rkt.run("gc").expect(0)
    assert "still within grace period" in res.err
    rkt.run("gc", "--expire-prepared=0s", "--grace-period=0s").expect(0)
    for d in ("run", "prepared", "exited-garbage", "garbage"):
        assert not any((rkt.data_dir / "pods" / d).iterdir()), d
    one_error_line(rkt.run("gc", "--grace-period=soon"), "grace-period")


def test_prepare_and_run_prepared(rkt, fly, inspect_image):
    uuid = rkt.run("prepare", "--quiet", FLY, inspect_image.arg, "--", "--print-msg=later",
                   "--exit-code=4").expect(0).out.strip()
    assert rkt.status(uuid)["state"] == "prepared"
    no_legend = rkt.run("list", "--no-legend").expect(0).out
    assert "prepared" in no_legend
    res = rkt.run("run-prepared", uuid)
    assert res.code == 4 and "later" in res.out
    assert rkt.status(uuid)["state"] == "exited"
    one_error_line(rkt.run("run-prepared", uuid), "not prepared")
    rkt.run("rm", uuid).expect(0)


def test_rm_refuses_running_pod_and_stop(rkt, fly, inspect_image):
    proc, uuid = rkt.spawn_pod(FLY, inspect_image.arg, "--", "--print-msg=started", "--sleep=60")
    assert rkt.status(uuid)["state"] == "running"
    one_error_line(rkt.run("rm", uuid), "running")
    res = rkt.run("stop", uuid).expect(0)
    assert res.out.strip() == f'"{uuid}"'
    assert proc.wait(timeout=30) == 128 + 15
    st = rkt.status(uuid)
    assert st["state"] == "exited" and st["app-inspect"] == str(128 + 15)
    res = rkt.run("stop", uuid).expect(0)
    assert "is already stopped" in res.err


def test_stop_force_kills_a_pod_that_ignores_sigterm(rkt, fly, inspect_image):
    proc, uuid = rkt.spawn_pod(FLY, inspect_image.arg, "--", "--silent-sigterm", "--sleep=60")
    uuid_file = rkt.scratch / "uuid-for-stop"
    uuid_file.write_text(uuid)
    rkt.run("stop", "--force", f"--uuid-file={uuid_file}").expect(0)
    assert proc.wait(timeout=30) == 128 + 9


def test_cat_manifest(rkt, fly, inspect_image):
    _, uuid = rkt.run_pod(FLY, inspect_image.arg, "--user-label=tier=web",
                          "--user-annotation=owner=ops", "--annotation=note=x", "--",
                          "--print-msg=x")
    m = json.loads(rkt.run("cat-manifest", "--pretty-print=false", uuid).expect(0).out)
    assert m["acKind"] == "PodManifest"
    assert m["apps"][0]["name"] == "inspect"
    assert m["apps"][0]["app"]["exec"] == ["/inspect", "--print-msg=x"]
    assert m["apps"][0]["image"]["id"] == inspect_image.id
    assert m["apps"][0]["app"]["userLabels"] == {"tier": "web"}
    assert m["apps"][0]["app"]["userAnnotations"] == {"owner": "ops"}
    assert m["apps"][0]["annotations"] == [{"name": "note", "value": "x"}]


# ---- apps: exec, env, user, group, working dir, names ------------------------------------------

def test_exec_args_and_app_flags(rkt, fly, busybox_image):
    env_file = rkt.scratch / "env"
    env_file.write_text("# comment\n; comment\n\nVAR_OTHER=file\nVAR_BOTH=file\n")
    res, _ = rkt.run_pod(FLY, f"--set-env-file={env_file}", "--set-env=VAR_BOTH=setenv",
                         busybox_image.arg, "--exec=/inspect", "--user=1000", "--group=1001",
                         "--working-dir=/tmp", "--", "--print-env=VAR_OTHER",
                         "--print-env=VAR_BOTH", "--print-user", "--print-cwd", "--print-exec")
    res.expect(0)
    assert "VAR_OTHER=file" in res.out
    assert "VAR_BOTH=setenv" in res.out
    assert "uid=1000" in res.out and "gid=1001" in res.out
    assert "cwd: /tmp" in res.out
    assert "/inspect" in res.out


def test_user_by_name_from_the_image(rkt, fly, busybox_image):
    res, _ = rkt.run_pod(FLY, busybox_image.arg, "--exec=/inspect", "--user=nobody", "--",
                         "--print-user")
    res.expect(0)
    assert "uid=65534" in res.out
    one_error_line(rkt.run("run", FLY, busybox_image.arg, "--exec=/inspect", "--user=nosuchuser"),
                   "nosuchuser")


def test_env_precedence(rkt, fly, inspect_image):
    res, _ = rkt.run_pod(FLY, inspect_image.arg, "--", "--print-env=VAR_FROM_MANIFEST")
    assert "VAR_FROM_MANIFEST=manifest" in res.out
    res, _ = rkt.run_pod(FLY, "--set-env=VAR_FROM_MANIFEST=setenv", inspect_image.arg, "--",
                         "--print-env=VAR_FROM_MANIFEST")
    assert "VAR_FROM_MANIFEST=setenv" in res.out
    env = dict(os.environ, VAR_FROM_MANIFEST="host", VAR_ONLY_HOST="host")
    res = rkt.run("run", FLY, "--inherit-env", inspect_image.arg, "--",
                  "--print-env=VAR_FROM_MANIFEST", "--print-env=VAR_ONLY_HOST", env=env)
    assert "VAR_FROM_MANIFEST=manifest" in res.out and "VAR_ONLY_HOST=host" in res.out


def test_stdin_is_not_a_terminal_without_interactive(rkt, fly, inspect_image):
    res, _ = rkt.run_pod(FLY, inspect_image.arg, "--", "--check-tty")
    assert "stdin is not a terminal" in res.out


def test_missing_entrypoint_is_reported(rkt, fly, inspect_image):
    res, uuid = rkt.run_pod(FLY, inspect_image.arg, "--exec=/does-not-exist")
    assert res.code == 127, repr(res)
    assert "/does-not-exist" in res.err
    assert rkt.status(uuid)["app-inspect"] == "127"


# ---- fetch and image commands -------------------------------------------------------------------

def test_fetch_and_image_commands(rkt, inspect_image, tmp_path):
    res = rkt.run("fetch", inspect_image.arg).expect(0)
    short = res.out.strip()
    assert re.fullmatch(r"sha256-[0-9a-f]{32}", short)
    full = rkt.run("fetch", "--full", inspect_image.arg).expect(0).out.strip()
    assert full == inspect_image.id and full.startswith(short)
    lst = rkt.run("image", "list").expect(0).out.splitlines()
    assert lst[0].split()[:2] == ["ID", "NAME"] and "LAST USED" in lst[0]
    assert lst[1].split()[0] == inspect_image.id[:19]
    assert not rkt.run("image", "list", "--no-legend").expect(0).out.startswith("ID")
    assert inspect_image.id in rkt.run("image", "list", "--full").expect(0).out
    j = json.loads(rkt.run("image", "list", "--format=json").expect(0).out)
    assert j[0]["id"] == inspect_image.id and j[0]["name"] == "inspect:latest"
    assert '"id": "' in rkt.run("image", "list", "--format=json-pretty").expect(0).out

    m = json.loads(rkt.run("image", "cat-manifest", "--pretty-print=false", "inspect").expect(0).out)
    assert m["schemaVersion"] == 2 and len(m["layers"]) == 1

    rkt.run("image", "extract", "--rootfs-only", "inspect", str(tmp_path / "x")).expect(0)
    assert (tmp_path / "x" / "inspect").is_file() and not (tmp_path / "x" / "manifest").exists()
    rkt.run("image", "render", "inspect", str(tmp_path / "r")).expect(0)
    assert (tmp_path / "r" / "rootfs" / "inspect").is_file()
    one_error_line(rkt.run("image", "render", "inspect", str(tmp_path / "r")), "--overwrite")
    rkt.run("image", "render", "--overwrite", "inspect", str(tmp_path / "r")).expect(0)

    rkt.run("image", "export", inspect_image.id[:13], str(tmp_path / "out.tar")).expect(0)
    with tarfile.open(tmp_path / "out.tar") as t:
        names = t.getnames()
    assert "oci-layout" in names and "index.json" in names
    # The exported archive imports back as the same image.
    again = rkt.run("fetch", "--full", str(tmp_path / "out.tar")).expect(0).out.strip()
    assert again == inspect_image.id

    rkt.run("image", "verify").expect(0)
    res = rkt.run("image", "rm", inspect_image.id).expect(0)
    assert inspect_image.id in res.out and "1 image(s) successfully removed" in res.err
    assert rkt.run("image", "list", "--no-legend").expect(0).out.strip() == ""
    one_error_line(rkt.run("image", "rm", "sha256-0123456789ab"), "sha256-0123456789ab")


def test_image_gc_keeps_images_of_pods(rkt, fly, inspect_image, busybox_image):
    _, uuid = rkt.run_pod(FLY, inspect_image.arg)
    rkt.run("fetch", busybox_image.arg).expect(0)
    rkt.run("image", "gc", "--grace-period=0s").expect(0)
    out = rkt.run("image", "list", "--full", "--no-legend").expect(0).out
    assert inspect_image.id in out
    assert busybox_image.id not in out
    one_error_line(rkt.run("image", "rm", inspect_image.id), uuid)
    rkt.run("rm", uuid).expect(0)
    rkt.run("image", "gc", "--grace-period=0s").expect(0)
    assert rkt.run("image", "list", "--no-legend").expect(0).out.strip() == ""


def test_image_list_after_image_rm_keeps_pod_listing(rkt, fly, inspect_image):
    _, uuid = rkt.run_pod(FLY, inspect_image.arg)
    rkt.run("rm", uuid).expect(0)
    rkt.run("image", "rm", "inspect").expect(0)


# ---- bad input: one clear line, exit 254, store intact ------------------------------------------

def test_signature_required_by_default(rkt, inspect_image):
    rkt.insecure_options = None
    before = store_snapshot(rkt)
    one_error_line(rkt.run("run", FLY, inspect_image.arg), "--insecure-options=image")
    assert store_snapshot(rkt) == before


@pytest.mark.parametrize("broken,needle", [
    ("layer-digest", "digest"),
    ("manifest-digest", "manifest"),
    ("diffid", "iff"),
    ("truncated-layer", ""),
    ("missing-layer", ""),
    ("bad-config-json", "config"),
])
def test_corrupt_images_are_refused(rkt, inspect_binary, tmp_path, broken, needle):
    # An unrelated image already in the store must survive the failed import untouched.
    unrelated = op.Image(layers=[[op.File("hello", "hello")]], entrypoint=["/hello"])
    rkt.run("fetch", pack(unrelated, tmp_path / "good").arg).expect(0)
    before = store_snapshot(rkt)
    bad = pack(images.inspect_image(inspect_binary, broken=[broken]), tmp_path / "bad")
    res = rkt.run("run", FLY, bad.arg)
    line = one_error_line(res)
    assert needle.lower() in line.lower(), line
    assert store_snapshot(rkt) == before
    assert not any((rkt.data_dir / "pods").rglob("pod")), "a pod was left behind"
    rkt.run("image", "verify").expect(0)


@pytest.mark.parametrize("entry,needle", [
    (op.File("../escape", "x"), ".."),
    (op.File("/abs", "x"), "absolute"),
])
def test_hostile_layers_are_refused(rkt, tmp_path, inspect_binary, entry, needle):
    hostile = op.Image(layers=[images.inspect_entries(inspect_binary), [entry]],
                       entrypoint=["/inspect"])
    img = pack(hostile, tmp_path / "hostile")
    before = store_snapshot(rkt)
    line = one_error_line(rkt.run("fetch", img.arg))
    assert needle in line, line
    assert store_snapshot(rkt) == before
    assert not (tmp_path / "escape").exists()


def test_missing_image(rkt, fly):
    one_error_line(rkt.run("run", FLY, "/no/such/image"), "/no/such/image")
    one_error_line(rkt.run("run", FLY, "no-such-name"), "no-such-name")
    one_error_line(rkt.run("fetch", "oci:/no/such/layout:v1"), "/no/such/layout")


def test_duplicate_app_name(rkt, fly, inspect_image):
    res = rkt.run("prepare", FLY, inspect_image.arg, inspect_image.arg)
    one_error_line(res, "inspect")
    assert not any((rkt.data_dir / "pods").rglob("pod"))
    rkt.run("prepare", "--quiet", FLY, inspect_image.arg, "--name=a", "---",
            inspect_image.arg, "--name=b").expect(0)


def test_conflicting_and_invalid_flags(rkt, fly, inspect_image):
    one_error_line(rkt.run("run", "--pod-manifest=/dev/null", "--inherit-env"),
                   "conflicting flags set with --pod-manifest")
    one_error_line(rkt.run("run", "--pod-manifest=/dev/null", inspect_image.arg),
                   "conflicting flags set with --pod-manifest")
    one_error_line(rkt.run("run", "--interactive", FLY, inspect_image.arg, inspect_image.arg),
                   "interactive option only supports one image")
    one_error_line(rkt.run("run", "--net=none", "--port=x:80", FLY, inspect_image.arg),
                   "--port flag does not work with 'none' networking")
    one_error_line(rkt.run("run", FLY), "must provide at least one image")
    one_error_line(rkt.run("run", "--stage1=fly", "--stage1-name=nspawn", inspect_image.arg),
                   "conflicting stage1 flags")
    one_error_line(rkt.run("run", "--stage1=warp", inspect_image.arg), "warp")
    one_error_line(rkt.run("run", FLY, inspect_image.arg, "--caps-retain=CAP_KILL",
                           "--caps-remove=CAP_CHOWN"), "--caps-retain and --caps-remove")
    one_error_line(rkt.run("run", FLY, inspect_image.arg, "--memory=lots"), "--memory")
    one_error_line(rkt.run("run", FLY, "--volume=v,kind=host,source=/this/directory/does/not/exist",
                           inspect_image.arg), "/this/directory/does/not/exist")
    one_error_line(rkt.run("run", FLY, inspect_image.arg, "--mount=volume=nope,target=/x"), "nope")
    one_error_line(rkt.run("run", FLY, inspect_image.arg, "--bogus"), "--bogus")
    assert not any((rkt.data_dir / "pods").rglob("pod"))


def no_pods(rkt):
    return not any((rkt.data_dir / "pods").glob("*/*"))


def test_bad_environment_names_are_refused_before_any_pod(rkt, fly, inspect_image,
                                                          inspect_binary, tmp_path):
    # A name with a newline would read as two variables in a stage1's env file; a name with a
    # space, a tab or '=' is no variable at all. Every input is checked the same way.
    for args in (["--set-env=A B=1", inspect_image.arg],
                 ["--set-env=A\nB=1", inspect_image.arg],
                 [inspect_image.arg, "--environment=A\tB=1"],
                 [inspect_image.arg, "--environment==1"]):
        res = rkt.run("prepare", FLY, *args)
        assert res.code == 254, repr(res)
        assert len(res.err.strip().splitlines()) == 1, repr(res)
        assert "--set-env" in res.err or "--environment" in res.err, repr(res)
    env_file = tmp_path / "env"
    env_file.write_text("GOOD=1\nBAD NAME=2\n")
    one_error_line(rkt.run("prepare", FLY, f"--set-env-file={env_file}", inspect_image.arg),
                   "line 2", '"BAD NAME" is not a variable name')

    image_id = rkt.run("fetch", inspect_image.arg).expect(0).out.strip()
    pod_manifest = tmp_path / "pod.json"
    pod_manifest.write_text(json.dumps({
        "acKind": "PodManifest", "acVersion": "0.8.11", "volumes": [],
        "apps": [{"name": "app", "image": {"id": image_id},
                  "app": {"environment": [{"name": "A\nB", "value": "x"}]}}]}))
    one_error_line(rkt.run("prepare", FLY, f"--pod-manifest={pod_manifest}"),
                   "environment", '"A?B" is not a variable name')

    bad_image = pack(op.Image(layers=[images.inspect_entries(inspect_binary)],
                              entrypoint=["/inspect"], env=["PATH=/", "BAD NAME=x"],
                              labels={"name": "bad-env"}), tmp_path / "bad-env")
    one_error_line(rkt.run("prepare", FLY, bad_image.arg), "environment",
                   '"BAD NAME" is not a variable name')
    assert no_pods(rkt)

    # A value may hold a newline: only names are restricted.
    res, _ = rkt.run_pod(FLY, "--set-env=MULTI=one\ntwo", inspect_image.arg, "--",
                         "--print-env=MULTI")
    res.expect(0)
    assert "MULTI=one\ntwo" in res.out


def test_bad_hostname_is_refused_before_any_pod(rkt, fly, inspect_image):
    for bad in ("bad host", "-dash", "a" * 65, "x_y", "line\nbreak"):
        for cmd in ("prepare", "run"):
            one_error_line(rkt.run(cmd, FLY, f"--hostname={bad}", inspect_image.arg),
                           "--hostname", "is not a host name")
    assert no_pods(rkt)
    uuid = rkt.run("prepare", "--quiet", FLY, inspect_image.arg).expect(0).out.strip()
    one_error_line(rkt.run("run-prepared", "--hostname=bad host", uuid), "is not a host name")
    assert rkt.status(uuid)["state"] == "prepared"


@pytest.mark.parametrize("flag", ["--memory=64M", "--cpu=500m", "--cpu-shares=512",
                                  "--pids-limit=100", "--caps-retain=CAP_KILL",
                                  "--caps-remove=CAP_CHOWN", "--seccomp=mode=remove,reboot",
                                  "--oom-score-adj=100"])
def test_fly_refuses_isolation_flags(rkt, fly, inspect_image, flag):
    # fly chroots the app with the host's privileges: a limit asked for is refused, not dropped.
    one_error_line(rkt.run("run", FLY, inspect_image.arg, flag, "--", "--print-msg=ran"),
                   "the fly stage1 applies no isolators", flag.split("=")[0],
                   "--stage1=nspawn or --stage1=kvm")
    assert no_pods(rkt)


def test_fly_refuses_isolators_of_a_pod_manifest_and_a_pod_file(rkt, fly, inspect_image,
                                                                tmp_path):
    image_id = rkt.run("fetch", inspect_image.arg).expect(0).out.strip()
    pod_manifest = tmp_path / "pod.json"
    pod_manifest.write_text(json.dumps({
        "acKind": "PodManifest", "acVersion": "0.8.11", "volumes": [],
        "apps": [{"name": "app", "image": {"id": image_id},
                  "app": {"isolators": [{"name": "resource/memory",
                                         "value": {"limit": "64M"}}]}}]}))
    one_error_line(rkt.run("run", FLY, f"--pod-manifest={pod_manifest}"),
                   "the fly stage1 applies no isolators", "resource/memory")
    assert no_pods(rkt)

    # A pod prepared without isolators and given one afterwards (by hand, or an older rkt): the
    # fly stage1 refuses it too, before the app starts.
    uuid = rkt.run("prepare", "--quiet", FLY, inspect_image.arg, "--",
                   "--print-msg=ran").expect(0).out.strip()
    pod_file = rkt.pod_dir(uuid) / "pod"
    pod = json.loads(pod_file.read_text())
    pod["apps"][0]["app"]["isolators"] = [{"name": "resource/memory", "value": {"limit": "64M"}}]
    pod_file.write_text(json.dumps(pod))
    res = rkt.run("run-prepared", uuid)
    one_error_line(res, "stage1: ", "applies no isolators", "resource/memory")
    assert "ran" not in res.out


def test_fly_runs_exactly_one_app(rkt, fly, inspect_image):
    res = rkt.run("run", FLY, inspect_image.arg, "--name=a", "---", inspect_image.arg, "--name=b")
    one_error_line(res, "exactly one app")


def test_not_root(rkt, inspect_image):
    harness.require_root()
    # The checkout may lie under a directory only root can enter (a clone in `mktemp -d`): the
    # unprivileged user runs a copy of the binary from a directory everyone can enter.
    with tempfile.TemporaryDirectory(prefix="rkt-not-root-") as public:
        os.chmod(public, 0o755)
        unprivileged = harness.Rkt(shutil.copy2(rkt.binary, public), rkt.root)
        for cmd in (["run", inspect_image.arg], ["prepare", inspect_image.arg], ["gc"],
                    ["rm", "x"], ["run-prepared", "x"], ["enter", "x"]):
            res = unprivileged.run(*cmd, user=65534)
            assert res.code == 254, repr(res)
            assert "cannot run as unprivileged user" in res.err, repr(res)


# ---- kill -9 at any step: gc cleans up, the store stays consistent ------------------------------

def test_kill_during_run_leaves_nothing_gc_cannot_clean(rkt, fly, inspect_binary, tmp_path):
    import signal
    import time
    delays = [0.02, 0.1, 0.3, 0.6, 1.0]
    for i, delay in enumerate(delays):
        big = op.Image(layers=[images.inspect_entries(inspect_binary),
                               [op.File(f"blob{i}", os.urandom(24 << 20))]],
                       entrypoint=["/inspect"], compression="gzip")
        img = pack(big, tmp_path / f"img{i}")
        proc = rkt.spawn("run", FLY, img.arg, "--", "--sleep=30")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # A pod that got as far as its app keeps running after rkt's death (fly's app is its own
        # process); stop those first, as an operator would.
        for p in rkt.list_pods():
            if p.get("state") == "running":
                rkt.run("stop", "--force", p["uuid"] if "uuid" in p else p["name"]).expect(0)
        rkt.run("gc", "--grace-period=0s", "--expire-prepared=0s").expect(0)
        for d in ("embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"):
            path = rkt.data_dir / "pods" / d
            assert not path.exists() or not any(path.iterdir()), (delay, d)
        rkt.run("image", "verify").expect(0)
    # Whatever was interrupted, the images run now.
    res, _ = rkt.run_pod(FLY, img.arg, "--", "--print-msg=after")
    res.expect(0)
    assert "after" in res.out


# ---- networking flags (stage0 checks them before any pod exists) -------------------------------

def pod_dirs(rkt):
    return [p for p in (rkt.data_dir / "pods").glob("*/*") if p.is_dir()]


def test_bad_dns_and_hosts_flags_are_refused_before_any_pod(rkt, fly, inspect_image):
    for flag, needle in (("--dns=example.com", "is not an IP address"),
                         ("--dns=host,8.8.8.8", "--dns=host cannot be combined"),
                         ("--dns=none,host", "cannot be combined"),
                         ("--dns-search=bad domain", "--dns-search"),
                         ("--dns-search=-x.example", "is not a domain name"),
                         ("--dns-opt=nd ots", "--dns-opt"),
                         ("--dns-domain=a..b", "--dns-domain"),
                         ("--hosts-entry=128.66.0.99", "IP=HOSTNAME"),
                         ("--hosts-entry=300.1.1.1=x", "IP=HOSTNAME"),
                         ("--hosts-entry=1.2.3.4=bad name", "IP=HOSTNAME")):
        for cmd in ("prepare", "run"):
            one_error_line(rkt.run(cmd, FLY, flag, inspect_image.arg), needle)
    one_error_line(rkt.run("run", FLY, "--dns=host", "--dns-search=a.example", inspect_image.arg),
                   "do not work with --dns=host")
    assert no_pods(rkt)
    uuid = rkt.run("prepare", "--quiet", FLY, inspect_image.arg).expect(0).out.strip()
    one_error_line(rkt.run("run-prepared", "--dns=not-an-ip", uuid), "is not an IP address")
    assert rkt.status(uuid)["state"] == "prepared"


def test_net_flag_combinations(rkt, fly, inspect_image):
    one_error_line(rkt.run("run", "--net=host,default", FLY, inspect_image.arg),
                   "--net=host cannot be combined with other networks")
    one_error_line(rkt.run("run", "--net=none", "--net=mynet", FLY, inspect_image.arg),
                   "--net=none cannot be combined")
    one_error_line(rkt.run("run", "--net=a,a", FLY, inspect_image.arg), "twice")
    one_error_line(rkt.run("run", "--net=mynet:IP=1.2.3", FLY, inspect_image.arg),
                   "IP=1.2.3 is not an")
    one_error_line(rkt.run("run", "--net=host", "--port=x:80", FLY, inspect_image.arg),
                   "--port flag does not work with 'host' networking")
    assert no_pods(rkt)


def test_fly_shares_the_hosts_network_only(rkt, fly, inspect_image):
    msg = "the fly stage1 has no network of its own: it shares the host's"
    for net in ("--net=default", "--net=none", "--net=mynet", "--net"):
        for cmd in ("prepare", "run"):
            one_error_line(rkt.run(cmd, FLY, net, inspect_image.arg), msg, "--net=host")
    one_error_line(rkt.run("run", FLY, "--port=x:80", inspect_image.arg),
                   "--port does not work with the fly stage1")
    one_error_line(rkt.run("run", FLY, "--dns=128.66.0.53", inspect_image.arg),
                   "do not work with the fly stage1")
    assert no_pods(rkt)
    # No --net, or --net=host: the host's network, which the stage1 is told.
    res, uuid = rkt.run_pod(FLY, inspect_image.arg)
    res.expect(0)
    opts = json.loads(next(p for p in pod_dirs(rkt) if p.name == uuid)
                      .joinpath("run-options.json").read_text())
    assert opts["net"] == ["host"]
    rkt.run_pod(FLY, "--net=host", inspect_image.arg)[0].expect(0)
    uuid = rkt.run("prepare", "--quiet", FLY, inspect_image.arg).expect(0).out.strip()
    one_error_line(rkt.run("run-prepared", "--net=default", uuid), msg)
    assert rkt.status(uuid)["state"] == "prepared"


def test_list_and_status_networks_from_net_info(rkt, fly, inspect_image):
    res, uuid = rkt.run_pod(FLY, inspect_image.arg)
    res.expect(0)
    st = rkt.run("status", uuid).expect(0).out.splitlines()
    assert "networks=" in st, st
    assert json.loads(rkt.run("status", "--format=json", uuid).expect(0).out)["networks"] == []
    # What a stage1 with CNI networks leaves in the pod directory (rkt's fields).
    pod_dir = next(p for p in pod_dirs(rkt) if p.name == uuid)
    nets = [{"netName": "default", "netConf": "built-in", "pluginPath": "/usr/lib/cni/ptp",
             "ifName": "eth0", "ip": "172.16.28.7", "args": "", "mask": "255.255.255.0"},
            {"netName": "other", "netConf": "/etc/rkt/net.d/10-other.conf",
             "pluginPath": "/usr/lib/cni/bridge", "ifName": "eth1", "ip": "10.1.0.5",
             "args": "IP=10.1.0.5", "mask": "255.255.0.0", "gateway": "10.1.0.1"}]
    (pod_dir / "net-info.json").write_text(json.dumps(nets))
    st = rkt.run("status", uuid).expect(0).out.splitlines()
    assert "networks=default:ip4=172.16.28.7,other:ip4=10.1.0.5" in st, st
    assert st.index("networks=default:ip4=172.16.28.7,other:ip4=10.1.0.5") == 3, st
    row = rkt.run("list", "--no-legend").expect(0).out.splitlines()[0]
    assert row.rstrip().endswith("default:ip4=172.16.28.7, other:ip4=10.1.0.5"), row
    want = [{k: n[k] for k in ("netName", "netConf", "pluginPath", "ifName", "ip", "args", "mask")}
            for n in nets]
    assert json.loads(rkt.run("status", "--format=json", uuid).expect(0).out)["networks"] == want
    assert json.loads(rkt.run("list", "--format=json").expect(0).out)[0]["networks"] == want
    # A garbled file shows no networks, and breaks nothing.
    (pod_dir / "net-info.json").write_text("{not json")
    assert "networks=" in rkt.run("status", uuid).expect(0).out.splitlines()
    rkt.run("list").expect(0)


def test_port_flags_are_resolved_against_the_apps(rkt, build_dir, inspect_binary, tmp_path):
    require_stage1(build_dir, "nspawn")
    web = pack(op.Image(layers=[images.inspect_entries(inspect_binary)], entrypoint=["/inspect"],
                        env=["PATH=/"], exposed_ports=["80/tcp", "53/udp"],
                        labels={"name": "web"}), tmp_path / "web")
    nspawn = "--stage1=nspawn"
    one_error_line(rkt.run("prepare", nspawn, "--port=http:8080", web.arg),
                   'port name "http" is not exposed by any app of the pod',
                   "exposed: 53-udp, 80-tcp")  # ExposedPorts is a JSON object: sorted
    for bad in ("--port=80-tcp", "--port=80-tcp:0", "--port=80-tcp:70000",
                "--port=80-tcp:1.2.3:8080", "--port=80-tcp:x"):
        one_error_line(rkt.run("prepare", nspawn, bad, web.arg), "NAME:[HOSTIP:]HOSTPORT")
    one_error_line(rkt.run("prepare", nspawn, "--port=80-tcp:8080", "--port=53-udp:8080",
                           "--port=80-tcp:127.0.0.1:8080", web.arg),
                   "host port 8080/tcp on 127.0.0.1 is already forwarded")
    one_error_line(rkt.run("prepare", nspawn, "--net=none", "--port=80-tcp:8080", web.arg),
                   "--port flag does not work with 'none' networking")
    assert no_pods(rkt)
    # A bare --net (rkt's default) before the image does not take the image as its value.
    uuid = rkt.run("prepare", "--quiet", nspawn, "--net", "--port=80-tcp:8080",
                   "--port=53-udp:127.0.0.1:5353", web.arg).expect(0).out.strip()
    opts = json.loads(next(p for p in pod_dirs(rkt) if p.name == uuid)
                      .joinpath("run-options.json").read_text())
    assert opts["net"] == ["default"]
    assert opts["ports"] == [
        {"name": "80-tcp", "protocol": "tcp", "podPort": 80, "hostIP": "", "hostPort": 8080},
        {"name": "53-udp", "protocol": "udp", "podPort": 53, "hostIP": "127.0.0.1",
         "hostPort": 5353}]
    manifest = json.loads(rkt.run("cat-manifest", uuid).expect(0).out)
    assert {"name": "80-tcp", "protocol": "tcp", "port": 80} in \
        [{k: p[k] for k in ("name", "protocol", "port")} for p in manifest["apps"][0]["app"]["ports"]]
    one_error_line(rkt.run("run-prepared", "--net=none", uuid),
                   "prepared with --port, which does not work with 'none' networking")
    assert rkt.status(uuid)["state"] == "prepared"
    rkt.run("rm", uuid).expect(0)
