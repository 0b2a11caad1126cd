"""Checks the test fixtures themselves, without rkt: inspect run on the host, oci_pack's
output (digests verified here, and by skopeo/umoci when present), and the harness."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pty
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

import harness
from harness import images, oci_pack as op, require, require_command

PYTHON = "/usr/bin/python3"


# ---------------------------------------------------------------------------------------------
# inspect


def inspect(binary, *args, input=None, cwd=None, env=None, timeout=30):
    return subprocess.run([str(binary), *args], input=input, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def own_status_field(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def test_inspect_is_static(inspect_binary):
    data = Path(inspect_binary).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "expected a 64-bit ELF"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types, "inspect has a PT_INTERP: it is not linked statically"
    assert 2 not in types, "inspect has a PT_DYNAMIC section"


def test_flags_run_in_order_and_exit_code_comes_last(inspect_binary):
    res = inspect(inspect_binary, "--exit-code=3", "--print-msg=one", "--print-msg=two")
    assert res.returncode == 3
    assert res.stdout == "one\ntwo\n"


def test_environment_and_identity(inspect_binary, tmp_path):
    link = tmp_path / "inspect-link"
    link.symlink_to(inspect_binary)
    env = {"FOO": "bar baz"}
    res = inspect(link, "--print-env=FOO", "--print-env=UNSET_VAR", "--print-exec",
                  "--print-user", "--print-groups", "--print-cwd", "--print-hostname",
                  cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "FOO=bar baz"
    assert lines[1] == "UNSET_VAR is not set"
    assert lines[2] == f"inspect execed as: {link}"
    assert lines[3] == (f"User: uid={os.getuid()} euid={os.geteuid()} gid={os.getgid()} "
                        f"egid={os.getegid()}")
    groups = [int(g) for g in lines[4].split(":", 1)[1].split()]
    assert lines[4].startswith("Groups:") and sorted(groups) == sorted(os.getgroups())
    assert lines[5] == f"cwd: {tmp_path}"
    assert lines[6] == f"Hostname: {socket.gethostname()}"


def test_capabilities(inspect_binary):
    res = inspect(inspect_binary, "--print-caps-pid=0")
    assert res.returncode == 0, res.stderr
    values = dict(re.findall(r"^Capability set: (\w+): 0x([0-9a-f]{16})$", res.stdout, re.M))
    assert int(values["effective"], 16) == int(own_status_field("CapEff"), 16)
    bounding = int(values["bounding"], 16)
    assert bounding == int(own_status_field("CapBnd"), 16)
    names = re.search(r"^Bounding set: (.*)$", res.stdout, re.M).group(1)
    listed = [n for n in names.split(",") if n]
    assert len(listed) == bin(bounding).count("1")
    assert all(n.startswith("cap_") and n == n.lower() for n in listed)
    assert ("cap_chown" in listed) == bool(bounding & 1)
    assert ("cap_net_admin" in listed) == bool(bounding & (1 << 12))


def test_security_state(inspect_binary):
    res = inspect(inspect_binary, "--print-seccomp", "--print-no-new-privs")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"Seccomp: {own_status_field('Seccomp')}",
                                       f"no_new_privs: {own_status_field('NoNewPrivs')}"]


def test_namespaces(inspect_binary):
    res = inspect(inspect_binary, "--print-netns", "--print-ipcns", "--print-ns=uts")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        f"NetNS: {os.stat('/proc/self/ns/net').st_ino}",
        f"IPCNS: {os.stat('/proc/self/ns/ipc').st_ino}",
        f"ns/uts: {os.stat('/proc/self/ns/uts').st_ino}"]


def test_check_mountns(inspect_binary):
    try:
        same = os.stat("/proc/1/ns/mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino
    except OSError as e:
        pytest.skip(f"cannot read /proc/1/ns/mnt here: {e.strerror}")
    res = inspect(inspect_binary, "--check-mountns")
    assert res.stdout == f"check-mountns: {'IDENTICAL' if same else 'DIFFERENT'}\n"


def test_network_checks(inspect_binary):
    res = inspect(inspect_binary, "--print-iface-count", "--print-ipv4=lo",
                  "--print-defaultgwv4")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"Interface count: {len(socket.if_nameindex())}"
    assert lines[1] == "lo IPv4: 127.0.0.1"
    assert re.fullmatch(r"DefaultGWv4: (\d+\.\d+\.\d+\.\d+|none)", lines[2])


def test_files(inspect_binary, tmp_path):
    target = tmp_path / "f.txt"
    res = inspect(inspect_binary, f"--write-file={target}", "--content=Saluton mondo",
                  f"--read-file={target}", f"--stat-file={target}", f"--hash-file={target}")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"{target}: written 13 bytes"
    assert lines[1] == f"{target}: Saluton mondo"
    assert lines[2].startswith(f"{target}: mode: -rw-r--r-- uid: {os.getuid()} ")
    assert lines[3] == f"{target}: sha1: {hashlib.sha1(b'Saluton mondo').hexdigest()}"


def test_hash_of_large_and_empty_files(inspect_binary, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(1 << 20) + b"tail")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    res = inspect(inspect_binary, f"--hash-file={big}", f"--hash-file={empty}")
    assert res.stdout.splitlines() == [
        f"{big}: sha1: {hashlib.sha1(big.read_bytes()).hexdigest()}",
        f"{empty}: sha1: da39a3ee5e6b4b0d3255bfef95601890afd80709"]


@pytest.mark.parametrize("kind,mode,shown", [
    ("file", 0o4755, "-rwsr-xr-x"), ("file", 0o2644, "-rw-r-Sr--"), ("file", 0, "----------"),
    ("dir", 0o1777, "drwxrwxrwt"), ("dir", 0o1770, "drwxrwx--T"), ("dir", 0, "d---------"),
    ("fifo", 0o600, "prw-------")])
def test_stat_modes_as_ls_shows_them(inspect_binary, tmp_path, kind, mode, shown):
    path = tmp_path / "x"
    {"file": lambda: path.write_bytes(b""), "dir": path.mkdir,
     "fifo": lambda: os.mkfifo(path)}[kind]()
    os.chmod(path, mode)
    res = inspect(inspect_binary, f"--stat-file={path}")
    assert f"{path}: mode: {shown} " in res.stdout, res.stdout + res.stderr


def test_stat_of_character_device(inspect_binary):
    assert "/dev/null: mode: crw-rw-rw- " in inspect(inspect_binary,
                                                     "--stat-file=/dev/null").stdout


def test_errors_go_to_stderr_with_status_1(inspect_binary, tmp_path):
    for args, message in [
        (["--no-such-flag"], "unknown flag"),
        ([f"--read-file={tmp_path}/missing"], "No such file or directory"),
        ([f"--write-file={tmp_path}/x"], "needs --content"),
        ([f"--write-file={tmp_path}/no/dir/x", "--content=a"], "No such file or directory"),
        (["--try-syscall=reboot"], "does not know"),
        (["--get-http=http://localhost:1/"], "names are not resolved"),
        (["--sleep=soon"], "wants seconds"),
    ]:
        res = inspect(inspect_binary, "--print-msg=before", *args, "--print-msg=after")
        assert res.returncode == 1, args
        assert res.stderr.startswith("inspect: ") and message in res.stderr, res.stderr
        assert "after" not in res.stdout


def test_stdin_and_tty(inspect_binary):
    res = inspect(inspect_binary, "--check-tty", "--read-stdin", input="Saluton\nmore\n")
    assert res.stdout.splitlines() == ["stdin is not a terminal", "Enter text:",
                                       "Received text: Saluton"]
    leader, follower = pty.openpty()
    try:
        res = subprocess.run([str(inspect_binary), "--check-tty"], stdin=follower,
                             capture_output=True, text=True, timeout=30)
    finally:
        os.close(leader)
        os.close(follower)
    assert res.stdout == "stdin is a terminal\n"


@pytest.mark.parametrize("silent", [True, False])
def test_sigterm(inspect_binary, silent):
    args = ["--print-msg=ready", "--sleep=-1", "--print-msg=never"]
    if silent:
        args.insert(0, "--silent-sigterm")
    proc = subprocess.Popen([str(inspect_binary), *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == (0 if silent else -signal.SIGTERM)


def test_http_server_and_client(inspect_binary):
    server = subprocess.Popen([str(inspect_binary), "--serve-http=127.0.0.1:0",
                               "--http-requests=2", "--content=served body",
                               "--print-msg=server done"], stdout=subprocess.PIPE, text=True)
    try:
        match = re.fullmatch(r"Serving HTTP on 127\.0\.0\.1:(\d+)\n", server.stdout.readline())
        assert match
        url = f"http://127.0.0.1:{match.group(1)}/path"
        res = inspect(inspect_binary, f"--get-http={url}")
        assert res.returncode == 0, res.stderr
        assert res.stdout == f"{url}: served body\n"
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.0\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.0 405")
        server.wait(timeout=30)
        assert server.stdout.read() == "server done\n"
        assert server.returncode == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        server.stdout.close()


def test_get_http_reports_refused_connection(inspect_binary):
    with socket.socket() as s:  # a port that is certainly closed: bound but not listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        res = inspect(inspect_binary, f"--get-http=http://127.0.0.1:{port}/")
    assert res.returncode == 1 and "Connection refused" in res.stderr


def test_try_syscall(inspect_binary):
    res = inspect(inspect_binary, "--try-syscall=stat", "--try-syscall=statx",
                  "--try-syscall=getpid", "--try-syscall=openat")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["stat: ok", "statx: ok", "getpid: ok", "openat: ok"]


def test_cgroup_limits_have_their_format(inspect_binary):
    res = inspect(inspect_binary, "--print-memorylimit")
    require(res.returncode == 0, f"no memory cgroup visible here: {res.stderr.strip()}")
    assert re.fullmatch(r"Memory Limit: (\d+|max)\n", res.stdout)
    res = inspect(inspect_binary, "--print-cpuquota")
    require(res.returncode == 0, f"no cpu cgroup visible here: {res.stderr.strip()}")
    assert re.fullmatch(r"CPU Quota: (\d+|max)\n", res.stdout)


def test_sleep_and_pre_sleep_accept_fractions(inspect_binary):
    res = inspect(inspect_binary, "--print-msg=a", "--sleep=0.01", "--pre-sleep=0.01",
                  "--print-msg=b")
    assert res.returncode == 0 and res.stdout == "a\nb\n"


# ---------------------------------------------------------------------------------------------
# oci_pack: tar entries


def read_tar(data: bytes):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        return {m.name: m for m in t.getmembers()}


def test_entries_are_written_exactly(tmp_path):
    data = op.tar_bytes([
        op.Dir("etc", mode=0o750, uid=5, gid=6), op.File("etc/a", b"hello", mode=0o600),
        op.Symlink("etc/s", "/etc/a"), op.Hardlink("etc/h", "etc/a"),
        op.whiteout("etc/old"), op.opaque("var/lib"), op.File("../escape", b"x"),
        op.File("/absolute", b"y"), op.Fifo("fifo"), op.CharDevice("null", 1, 3),
        op.File("x" * 200, b"long name"), op.File("zeros", size=10000),
        op.File("xattr", pax={"SCHILY.xattr.user.k": "v"}),
    ])
    members = read_tar(data)
    assert members["etc"].isdir() and members["etc"].mode == 0o750
    assert (members["etc"].uid, members["etc"].gid) == (5, 6)
    assert members["etc/a"].size == 5 and members["etc/a"].mode == 0o600
    assert members["etc/s"].issym() and members["etc/s"].linkname == "/etc/a"
    assert members["etc/h"].islnk() and members["etc/h"].linkname == "etc/a"
    assert "etc/.wh.old" in members and "var/lib/.wh..wh..opq" in members
    assert "../escape" in members and "/absolute" in members
    assert members["fifo"].isfifo()
    assert members["null"].ischr() and (members["null"].devmajor, members["null"].devminor) == (1, 3)
    assert "x" * 200 in members
    assert members["zeros"].size == 10000
    assert members["xattr"].pax_headers["SCHILY.xattr.user.k"] == "v"
    assert all(m.mtime == op.DEFAULT_MTIME for m in members.values())


def test_claimed_size_makes_a_lying_header():
    huge = 20 << 30
    data = op.tar_bytes([op.File("huge", b"short", claimed_size=huge), op.File("after", b"x")])
    assert len(data) < 8192
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        first = t.next()
        assert (first.name, first.size) == ("huge", huge)
        with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
            t.next()


def test_entries_from_dir(tmp_path):
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d/f").write_bytes(b"content")
    os.chmod(root / "d/f", 0o4711)
    os.link(root / "d/f", root / "hard")
    (root / "link").symlink_to("d/f")
    os.mkfifo(root / "fifo")
    entries = op.entries_from_dir(root)
    by_path = {e.path: e for e in entries}
    assert [e.path for e in entries] == ["d", "d/f", "fifo", "hard", "link"]
    assert by_path["d/f"].mode == 0o4711 and by_path["d/f"].data == b"content"
    assert by_path["hard"].kind == "hardlink" and by_path["hard"].link == "d/f"
    assert by_path["link"].kind == "symlink" and by_path["link"].link == "d/f"
    assert by_path["fifo"].kind == "fifo"


# ---------------------------------------------------------------------------------------------
# oci_pack: images and layouts


def small_image(**kw):
    args = dict(layers=[[op.File("hello", b"hello\n")], [op.whiteout("hello"),
                                                           op.File("bye", b"bye\n")]],
                entrypoint=["/bye"], env={"A": "1"}, labels={"l": "v"},
                exposed_ports=["80/tcp"], volumes=["/data"], user="1000:1000",
                working_dir="/w")
    args.update(kw)
    return op.Image(**args)


def test_output_is_deterministic(tmp_path):
    first = op.write_layout(tmp_path / "a", small_image())
    second = op.write_layout(tmp_path / "b", small_image())
    assert first.digest == second.digest
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    for rel in files:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


@pytest.mark.parametrize("compression", op.COMPRESSIONS)
@pytest.mark.parametrize("media_types", ["oci", "docker"])
def test_layout_is_sound(tmp_path, compression, media_types):
    if compression == "zstd":
        require_command("zstd", "zstd")
    layout = op.write_layout(tmp_path / "l", small_image(compression=compression,
                                                         media_types=media_types), tag="t1")
    assert op.verify_layout(tmp_path / "l") == []
    index = json.loads((tmp_path / "l/index.json").read_bytes())
    assert index["manifests"][0]["annotations"][op.REF_NAME] == "t1"
    assert index["manifests"][0]["digest"] == layout.digest
    manifest = json.loads(layout.image.manifest)
    assert manifest["mediaType"] == op.MEDIA_TYPES[media_types]["manifest"]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        op.MEDIA_TYPES[media_types][compression]}
    config = json.loads(layout.image.config)
    assert config["config"] == {"Entrypoint": ["/bye"], "Env": ["A=1"], "Labels": {"l": "v"},
                                "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
                                "User": "1000:1000", "WorkingDir": "/w"}
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert layout.image.id == "sha256-" + layout.digest.split(":")[1]


def test_config_extra_can_remove_keys(tmp_path):
    layout = op.write_layout(tmp_path / "l", small_image(config_extra={"os": None}))
    assert "os" not in json.loads(layout.image.config)


def test_layout_holds_several_tags(tmp_path):
    op.write_layout(tmp_path / "l", small_image(), tag="one")
    op.write_layout(tmp_path / "l", small_image(entrypoint=["/other"]), tag="two")
    replaced = op.write_layout(tmp_path / "l", small_image(cmd=["x"]), tag="one")
    index = json.loads((tmp_path / "l/index.json").read_bytes())
    tags = {m["annotations"][op.REF_NAME]: m["digest"] for m in index["manifests"]}
    assert set(tags) == {"one", "two"} and tags["one"] == replaced.digest
    assert op.verify_layout(tmp_path / "l") == []


def test_image_index_with_several_platforms(tmp_path):
    layout = op.write_layout(tmp_path / "l", [small_image(),
                                              small_image(architecture="arm64", variant="v8")])
    index = json.loads((tmp_path / "l/blobs/sha256" / layout.digest.split(":")[1]).read_bytes())
    assert index["mediaType"] == op.OCI_MEDIA_TYPES["index"]
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    assert op.verify_layout(tmp_path / "l") == []


BREAKAGE_PROBLEMS = {
    "manifest-digest": "does not match its digest",
    "config-digest": "config: blob .* does not match its digest",
    "layer-digest": "layer 0: blob .* does not match its digest",
    "layer-size:1": "layer 1: blob .* descriptor says",
    "diffid": "layer 0: DiffID does not match",
    "truncated-layer": "layer 0: blob .* bytes, descriptor says",
    "truncated-stream": "layer 0: cannot decompress",
    "missing-layer:1": "layer 1: blob .* is missing",
    "missing-config": "config: blob .* is missing",
    "missing-manifest": "manifest 0 .*blob .* is missing",
    "bad-config-json": "config: not JSON",
    "bad-manifest-json": "manifest 0.*: not JSON",
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGE_PROBLEMS))
def test_broken_images_are_broken_as_described(tmp_path, breakage):
    op.write_layout(tmp_path / "l", small_image(broken=[breakage]))
    problems = op.verify_layout(tmp_path / "l")
    assert problems, f"{breakage} produced a sound layout"
    assert any(re.search(BREAKAGE_PROBLEMS[breakage], p) for p in problems), problems


def test_broken_layouts(tmp_path):
    for breakage, problem in [("missing-oci-layout", "oci-layout is missing"),
                              ("bad-oci-layout", "unknown imageLayoutVersion"),
                              ("bad-index-json", "index.json: not JSON")]:
        op.write_layout(tmp_path / breakage, small_image(), broken=[breakage])
        assert any(problem in p for p in op.verify_layout(tmp_path / breakage)), breakage
    op.write_layout(tmp_path / "index", [small_image(), small_image(os="freebsd")],
                    broken=["index-digest"])
    assert any("does not match its digest" in p for p in op.verify_layout(tmp_path / "index"))


def test_unknown_breakage_is_refused():
    with pytest.raises(op.OciPackError, match="unknown breakage"):
        small_image(broken=["slightly-off"]).build()


def test_oci_archive(tmp_path):
    layout = op.write_oci_archive(tmp_path / "a.tar", small_image(), tag="v1")
    with tarfile.open(tmp_path / "a.tar") as t:
        names = t.getnames()
        assert names[0] == "oci-layout"
        t.extractall(tmp_path / "x")
    assert op.verify_layout(tmp_path / "x") == []
    index = json.loads((tmp_path / "x/index.json").read_bytes())
    assert index["manifests"][0]["digest"] == layout.digest


def test_docker_archive(tmp_path):
    built = op.write_docker_archive(tmp_path / "d.tar", small_image(), tags=["ex/img:v1"])
    with tarfile.open(tmp_path / "d.tar") as t:
        manifest = json.load(t.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["ex/img:v1"]
        config_bytes = t.extractfile(manifest[0]["Config"]).read()
        assert "sha256:" + manifest[0]["Config"].removesuffix(".json") == \
            op.sha256_digest(config_bytes) == built.config_digest
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
        layers = [t.extractfile(p).read() for p in manifest[0]["Layers"]]
        assert [op.sha256_digest(layer) for layer in layers] == diff_ids
        repositories = json.load(t.extractfile("repositories"))
        assert list(repositories) == ["ex/img"] and "v1" in repositories["ex/img"]


def test_docker_archive_breakages(tmp_path):
    op.write_docker_archive(tmp_path / "d.tar", small_image(), broken=["truncated-layer:1"])
    with tarfile.open(tmp_path / "d.tar") as t:
        manifest = json.load(t.extractfile("manifest.json"))
        diff_ids = json.loads(t.extractfile(manifest[0]["Config"]).read())["rootfs"]["diff_ids"]
        second = t.extractfile(manifest[0]["Layers"][1]).read()
    assert op.sha256_digest(second) != diff_ids[1]


def test_cli_writes_a_layout(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "file").write_text("x")
    res = subprocess.run([PYTHON, str(harness.FIXTURES_DIR / "oci_pack.py"), str(tmp_path / "l"),
                          str(root), "--entrypoint", '["/file", "a b"]', "--env", "K=V",
                          "--compression", "none", "--tag", "cli"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", res.stdout)
    assert op.verify_layout(tmp_path / "l") == []
    index = json.loads((tmp_path / "l/index.json").read_bytes())
    manifest = json.loads((tmp_path / "l/blobs/sha256" /
                           index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    config = json.loads((tmp_path / "l/blobs/sha256" /
                         manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert config["config"]["Entrypoint"] == ["/file", "a b"]


# ---------------------------------------------------------------------------------------------
# The standard images, and other tools' view of oci_pack's output


def layout_files(fixture):
    """{path: TarInfo} of the single layer of a fixture image."""
    return read_tar(gzip.decompress(fixture.built.layers[0].blob))


def layer_file(fixture, path):
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(fixture.built.layers[0].blob))) as t:
        return t.extractfile(path).read().decode()


def test_inspect_image(inspect_image, inspect_binary):
    assert op.verify_layout(inspect_image.path) == []
    members = layout_files(inspect_image)
    assert list(members) == ["inspect"] and members["inspect"].mode == 0o755
    config = json.loads(inspect_image.built.config)["config"]
    assert config["Entrypoint"] == ["/inspect"]
    assert "VAR_FROM_MANIFEST=manifest" in config["Env"]


def test_busybox_image(busybox_image):
    assert op.verify_layout(busybox_image.path) == []
    members = layout_files(busybox_image)
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "ls", "cat", "echo", "sleep", "id", "hostname"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777
    assert members["inspect"].isfile()
    assert "\nuser:x:1000:1000:" in layer_file(busybox_image, "etc/passwd")
    assert members["usr/bin"].issym() and members["usr/bin"].linkname == "../bin"


def test_skopeo_accepts_layouts_and_archives(tmp_path, inspect_image):
    require_command("skopeo", "skopeo")

    def skopeo_inspect(ref, raw=False):
        res = subprocess.run(["skopeo", "inspect", *(["--raw"] if raw else []), ref],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"skopeo inspect {ref}: {res.stderr}"
        return json.loads(res.stdout)

    info = skopeo_inspect(f"oci:{inspect_image.path}:{inspect_image.tag}")
    assert info["Digest"] == inspect_image.digest
    assert info["Env"] == [f"{k}={v}" for k, v in images.INSPECT_ENV.items()]

    op.write_oci_archive(tmp_path / "a.tar", small_image(compression="none"), tag="x")
    assert skopeo_inspect(f"oci-archive:{tmp_path}/a.tar:x")["Os"] == "linux"
    op.write_docker_archive(tmp_path / "d.tar", small_image(), tags=["ex/img:v1"])
    assert skopeo_inspect(f"docker-archive:{tmp_path}/d.tar")["Labels"] == {"l": "v"}

    multi = op.write_layout(tmp_path / "multi", [small_image(architecture="arm64"),
                                                 small_image()])
    assert len(skopeo_inspect(f"oci:{tmp_path}/multi:latest", raw=True)["manifests"]) == 2
    # skopeo picks this machine's platform (amd64) out of the index, and names the index.
    chosen = skopeo_inspect(f"oci:{tmp_path}/multi:latest")
    assert chosen["Architecture"] == "amd64"
    assert chosen["Digest"] == multi.digest


def test_skopeo_copy_verifies_what_oci_pack_broke(tmp_path):
    require_command("skopeo", "skopeo")
    op.write_layout(tmp_path / "good", small_image())
    op.write_layout(tmp_path / "bad", small_image(broken=["layer-digest"]))
    ok = subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path}/good:latest",
                         f"dir:{tmp_path}/good-copy"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path}/bad:latest",
                          f"dir:{tmp_path}/bad-copy"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0 and "digest" in bad.stderr.lower()


def test_umoci_lists_and_unpacks(tmp_path, inspect_binary):
    require_command("umoci", "umoci")
    op.write_layout(tmp_path / "l", images.inspect_image(inspect_binary), tag="first")
    op.write_layout(tmp_path / "l", small_image(), tag="second")
    res = subprocess.run(["umoci", "ls", "--layout", str(tmp_path / "l")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == ["first", "second"]
    require(os.geteuid() == 0, "umoci unpack without --rootless needs root")
    res = subprocess.run(["umoci", "unpack", "--image", f"{tmp_path}/l:first",
                          str(tmp_path / "bundle")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    unpacked = tmp_path / "bundle/rootfs/inspect"
    assert stat.S_IMODE(unpacked.stat().st_mode) == 0o755
    assert inspect(unpacked, "--print-msg=unpacked").stdout == "unpacked\n"


def test_images_cli_builds_busybox(tmp_path, inspect_binary):
    require(images.find_busybox(), "busybox not found (Debian package busybox-static)")
    res = subprocess.run([PYTHON, str(harness.FIXTURES_DIR / "images.py"), "busybox",
                          str(tmp_path / "bb"), "--inspect", str(inspect_binary),
                          "--format", "oci-archive"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    with tarfile.open(tmp_path / "bb") as t:
        assert "oci-layout" in t.getnames()


# ---------------------------------------------------------------------------------------------
# The harness itself, with a stand-in for rkt


FAKE_RKT = """#!/bin/sh
# Prints its arguments one per line, or for "status" a pod status; exits with $FAKE_RKT_EXIT.
case " $* " in
  *" status "*) printf 'state=exited\\nexited=true\\napp-inspect=3\\n';;
  *) for a in "$@"; do echo "arg:$a"; done;;
esac
echo "to stderr" >&2
exit ${FAKE_RKT_EXIT:-0}
"""


@pytest.fixture
def fake_rkt(tmp_path):
    path = tmp_path / "fake-rkt"
    path.write_text(FAKE_RKT)
    path.chmod(0o755)
    runner = harness.Rkt(path, tmp_path / "root")
    yield runner
    runner.cleanup()


def test_runner_passes_private_directories(fake_rkt):
    code, out, err = fake_rkt.run("list", "--no-legend")
    args = [line[4:] for line in out.splitlines() if line.startswith("arg:")]
    assert code == 0 and err == "to stderr\n"
    assert args == [f"--dir={fake_rkt.data_dir}", f"--local-config={fake_rkt.local_config}",
                    f"--system-config={fake_rkt.system_config}",
                    f"--user-config={fake_rkt.user_config}", "--insecure-options=image",
                    "list", "--no-legend"]
    assert all(d.is_dir() for d in (fake_rkt.data_dir, fake_rkt.local_config))


def test_runner_reports_exit_codes_and_status(fake_rkt):
    res = fake_rkt.run("run", "img", env={"FAKE_RKT_EXIT": "254"})
    assert res.code == 254
    with pytest.raises(AssertionError, match="expected exit code 0"):
        res.expect(0)
    assert fake_rkt.status("1234") == {"state": "exited", "exited": "true", "app-inspect": "3"}


def test_runner_times_out(tmp_path):
    slow = tmp_path / "slow-rkt"
    slow.write_text("#!/bin/sh\necho started\nexec sleep 60\n")
    slow.chmod(0o755)
    runner = harness.Rkt(slow, tmp_path / "root")
    with pytest.raises(pytest.fail.Exception, match="timed out"):
        runner.run("run", timeout=0.5)


def test_cleanup_unmounts_what_is_left(tmp_path):
    require(os.geteuid() == 0, "mounting needs root")
    runner = harness.Rkt(tmp_path / "no-rkt", tmp_path / "root")
    target = runner.data_dir / "pods" / "run" / "x" / "mnt"
    target.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(target)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(target)], check=True)  # stacked
    runner.cleanup()
    assert not any(str(tmp_path) in line for line in Path("/proc/self/mountinfo").read_text()
                   .splitlines())
    assert not runner.data_dir.exists()


def test_require_skips_with_reason():
    with pytest.raises(pytest.skip.Exception, match="no frobnicator here"):
        require(False, "no frobnicator here")
    require(True, "never shown")


def test_pty_process(tmp_path):
    script = tmp_path / "tty-rkt"
    script.write_text('#!/bin/sh\n[ -t 0 ] && echo "on a tty"\necho "Enter text:"\nread x\n'
                      'echo "Received text: $x"\nexit 7\n')
    script.chmod(0o755)
    runner = harness.Rkt(script, tmp_path / "root")
    try:
        child = runner.spawn_pty("run", "--interactive")
        child.expect("on a tty")
        child.expect("Enter text:")
        child.send("Saluton\n")
        child.expect(r"Received text: Saluton")
        assert child.wait(timeout=30) == 7
        with pytest.raises(pytest.fail.Exception, match="output ended"):
            child.expect("never printed", timeout=5)
    finally:
        runner.cleanup()


def test_run_as_another_user(tmp_path):
    require(os.geteuid() == 0, "switching users needs root")
    shared = Path(tempfile.mkdtemp(prefix="rkt-e2e-user-"))  # tmp_path is private to root
    try:
        shared.chmod(0o755)
        script = shared / "id-rkt"
        script.write_text("#!/bin/sh\nid -u; id -G\n")
        script.chmod(0o755)
        res = harness.Rkt(script, tmp_path / "root").run("version", user=65534)
        assert res.expect(0).out.split() == ["65534", "65534"]
    finally:
        shutil.rmtree(shared)
