"""docker:// against Debian's docker-registry on loopback: tags, digests, a multi-arch index,
Basic and token auth, the redirect middleware, signatures (signed, unsigned, wrong key, wrong
prefix, Ed25519 and ECDSA), --insecure-options, and `rkt run docker://`."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

import harness
from harness import oci_pack as op
from registry_harness import DockerRegistry

pytestmark = pytest.mark.slow


def expect_one_line_error(res, *fragments) -> str:
    return harness.one_error_line(res, *fragments, allow_warnings=True)


def image_names(rkt) -> list:
    res = rkt.run("image", "list", "--format=json").expect(0)
    return [i["name"] for i in json.loads(res.out)]


def expect_store_clean(rkt) -> None:
    rkt.run("image", "verify").expect(0)


def make_key(tmp: Path, name: str, kind: str) -> tuple:
    """(private.pem, public.pem) made with the openssl command."""
    priv, pub = tmp / f"{name}.key", tmp / f"{name}.pub"
    if kind == "ec":
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                        str(priv)], check=True, capture_output=True)
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(priv)],
                       check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)
    return priv, pub


@pytest.fixture
def registry(tmp_path):
    reg = DockerRegistry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def fetcher(rkt):
    """rkt with plain http allowed but signatures checked."""
    rkt.insecure_options = "http"
    return rkt


@pytest.fixture(scope="session")
def multiarch(images_dir):
    """An OCI layout whose tag "multi" is an index of amd64 and arm64 images that differ."""
    amd = op.Image(layers=[[op.File("arch", b"amd64\n")]], cmd=["/bin/true"], architecture="amd64")
    arm = op.Image(layers=[[op.File("arch", b"arm64\n")]], cmd=["/bin/true"], architecture="arm64",
                   variant="v8")
    layout = op.write_layout(images_dir / "multiarch", [arm, amd], tag="multi")
    return layout


def test_signed_image_by_tag_and_by_digest(registry, fetcher, inspect_image, tmp_path):
    registry.push(inspect_image.path, "latest", "x/inspect:v1")
    priv, pub = make_key(tmp_path, "ec", "ec")
    ref = registry.ref("x/inspect:v1")
    fetcher.run("image", "sign", f"--key={priv}", ref).expect(0)
    fetcher.run("trust", f"--prefix={registry.host}/x", str(pub)).expect(0)

    res = fetcher.run("fetch", "--full", ref).expect(0)
    assert res.out.strip() == inspect_image.id
    assert "signature verified" in res.err
    assert len(res.err.strip().splitlines()) == 1, "one summary line when not on a terminal"
    res = fetcher.run("fetch", "--full", registry.ref(f"x/inspect@{inspect_image.digest}")).expect(0)
    assert res.out.strip() == inspect_image.id
    assert f"{registry.host}/x/inspect:v1" in image_names(fetcher)
    expect_store_clean(fetcher)
    # The image config reached the store.
    manifest = fetcher.run("image", "cat-manifest", inspect_image.id).expect(0)
    assert "layers" in manifest.out


def test_signature_verifies_with_openssl_alone(registry, fetcher, inspect_image, tmp_path):
    registry.push(inspect_image.path, "latest", "x/inspect:v1")
    priv, pub = make_key(tmp_path, "ec", "ec")
    fetcher.run("image", "sign", f"--key={priv}", registry.ref("x/inspect:v1")).expect(0)
    tag = inspect_image.digest.replace(":", "-") + ".sig"
    base = f"http://{registry.host}/v2/x/inspect"
    req = urllib.request.Request(f"{base}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    sig_manifest = json.load(urllib.request.urlopen(req))
    layer = sig_manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = urllib.request.urlopen(f"{base}/blobs/{layer['digest']}").read()
    (tmp_path / "payload.json").write_bytes(payload)
    (tmp_path / "sig.der").write_bytes(
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]))
    out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature",
                          str(tmp_path / "sig.der"), str(tmp_path / "payload.json")],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "Verified OK", out
    claims = json.loads(payload)
    assert claims["critical"]["image"]["docker-manifest-digest"] == inspect_image.digest
    assert claims["critical"]["type"] == "cosign container image signature"


def test_unsigned_image_is_refused(registry, fetcher, inspect_image, tmp_path):
    registry.push(inspect_image.path, "latest", "x/inspect:v1")
    _, pub = make_key(tmp_path, "ec", "ec")
    fetcher.run("trust", f"--prefix={registry.host}/x", str(pub)).expect(0)
    res = fetcher.run("fetch", registry.ref("x/inspect:v1"))
    expect_one_line_error(res, "is not signed", "--insecure-options=image")
    assert image_names(fetcher) == []
    # Opting out fetches it, and says so.
    fetcher.insecure_options = "http,image"
    res = fetcher.run("fetch", registry.ref("x/inspect:v1")).expect(0)
    assert "signature of" in res.err and "not checked" in res.err


def test_wrong_key_and_wrong_prefix_are_refused(registry, fetcher, inspect_image, tmp_path):
    registry.push(inspect_image.path, "latest", "team/inspect:v1")
    signer, signer_pub = make_key(tmp_path, "signer", "ed25519")
    _, other_pub = make_key(tmp_path, "other", "ed25519")
    ref = registry.ref("team/inspect:v1")
    fetcher.run("image", "sign", f"--key={signer}", ref).expect(0)

    # No key at all for this name.
    expect_one_line_error(fetcher.run("fetch", ref), "no trusted key covers")
    # The signer's key, but for another prefix.
    fetcher.run("trust", f"--prefix={registry.host}/elsewhere", str(signer_pub)).expect(0)
    expect_one_line_error(fetcher.run("fetch", ref), "no trusted key covers")
    # Another key for the right prefix.
    fetcher.run("trust", f"--prefix={registry.host}/team", str(other_pub)).expect(0)
    expect_one_line_error(fetcher.run("fetch", ref), "signed, but by no key trusted")
    assert image_names(fetcher) == []
    # The signer's key as a root key (every image): accepted.
    fetcher.run("trust", "--root", str(signer_pub)).expect(0)
    fetcher.run("fetch", ref).expect(0)
    listed = fetcher.run("trust", "--list").expect(0).out
    assert "ed25519" in listed and "root" in listed


def test_plain_http_needs_the_insecure_option(registry, rkt, inspect_image):
    registry.push(inspect_image.path, "latest", "x/inspect:v1")
    rkt.insecure_options = "image"
    expect_one_line_error(rkt.run("fetch", registry.ref("x/inspect:v1")), "--insecure-options=http")


def test_multiarch_index_resolves_to_this_platform(registry, fetcher, multiarch):
    registry.push(multiarch.path, "multi", "x/multi:v1", all_platforms=True)
    fetcher.insecure_options = "http,image"
    res = fetcher.run("fetch", "--full", registry.ref("x/multi:v1")).expect(0)
    amd64 = [i for i in multiarch.images if i.platform["architecture"] == "amd64"][0]
    assert res.out.strip() == amd64.id
    # By the index digest as well.
    res = fetcher.run("fetch", "--full", registry.ref(f"x/multi@{multiarch.digest}")).expect(0)
    assert res.out.strip() == amd64.id


def test_signed_index_is_accepted(registry, fetcher, multiarch, tmp_path):
    registry.push(multiarch.path, "multi", "x/multi:v1", all_platforms=True)
    priv, pub = make_key(tmp_path, "ec", "ec")
    fetcher.run("image", "sign", f"--key={priv}", registry.ref("x/multi:v1")).expect(0)
    fetcher.run("trust", f"--prefix={registry.host}/x/multi", str(pub)).expect(0)
    fetcher.run("fetch", registry.ref("x/multi:v1")).expect(0)


def test_docker_schema2_image(registry, fetcher, inspect_image):
    registry.push(inspect_image.path, "latest", "x/v2s2:v1", fmt="v2s2")
    fetcher.insecure_options = "http,image"
    res = fetcher.run("fetch", registry.ref("x/v2s2:v1")).expect(0)
    assert res.out.strip().startswith("sha256-")
    expect_store_clean(fetcher)


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_authentication(tmp_path, rkt, inspect_image, auth):
    reg = DockerRegistry(tmp_path / "registry", auth=auth)
    try:
        reg.push(inspect_image.path, "latest", "x/inspect:v1", creds=True)
        rkt.insecure_options = "http,image"
        ref = reg.ref("x/inspect:v1")
        expect_one_line_error(rkt.run("fetch", ref), "needs credentials", "auth.d")
        reg.write_auth_config(rkt.local_config, password="wrong")
        expect_one_line_error(rkt.run("fetch", ref), "refused the credentials")
        reg.write_auth_config(rkt.local_config)
        res = rkt.run("fetch", "--full", ref).expect(0)
        assert res.out.strip() == inspect_image.id
        if auth == "token":
            scopes = [p for p, _ in reg.token_server.requests if "scope=repository" in p]
            assert scopes, reg.token_server.requests
        assert image_names(rkt) == [f"{reg.host}/x/inspect:v1"]
    finally:
        reg.stop()


def test_redirected_blobs_never_see_credentials(tmp_path, rkt, inspect_image):
    reg = DockerRegistry(tmp_path / "registry", auth="basic", redirect=True)
    try:
        reg.push(inspect_image.path, "latest", "x/inspect:v1", creds=True)
        reg.blob_server.requests.clear()
        reg.write_auth_config(rkt.local_config)
        rkt.insecure_options = "http,image"
        res = rkt.run("fetch", "--full", reg.ref("x/inspect:v1")).expect(0)
        assert res.out.strip() == inspect_image.id
        hits = [p for p, _ in reg.blob_server.requests if "/blobs/sha256/" in p]
        assert hits, "the redirect middleware was not used"
        assert all(a is None for _, a in reg.blob_server.requests), reg.blob_server.requests
        expect_store_clean(rkt)
    finally:
        reg.stop()


def test_pull_policy_and_image_commands(registry, fetcher, inspect_image):
    registry.push(inspect_image.path, "latest", "x/inspect:v1")
    fetcher.insecure_options = "http,image"
    ref = registry.ref("x/inspect:v1")
    expect_one_line_error(fetcher.run("fetch", "--pull-policy=never", ref), "--pull-policy=never")
    fetcher.run("fetch", ref).expect(0)
    registry.stop()  # the store alone serves --pull-policy=new and never
    fetcher.run("fetch", "--pull-policy=new", ref).expect(0)
    fetcher.run("fetch", "--pull-policy=never", ref).expect(0)
    fetcher.run("image", "rm", inspect_image.id).expect(0)
    assert image_names(fetcher) == []
    fetcher.run("image", "gc", "--grace-period=0s").expect(0)
    expect_store_clean(fetcher)


def test_run_docker_image(registry, rkt, build_dir, inspect_image):
    harness.require_root()
    harness.require_stage1(build_dir, "fly")
    registry.push(inspect_image.path, "latest", "x/inspect:v1")
    rkt.insecure_options = "http,image"
    res, uuid = rkt.run_pod("--stage1-name=fly", registry.ref("x/inspect:v1"), "--",
                            "--print-msg=from-registry")
    assert res.code == 0, repr(res)
    assert "from-registry" in res.out


def test_untrusted_certificate_needs_the_insecure_option(tmp_path, rkt, inspect_image):
    reg = DockerRegistry(tmp_path / "registry", tls=True)
    try:
        reg.push(inspect_image.path, "latest", "x/inspect:v1")
        rkt.insecure_options = "image"
        expect_one_line_error(rkt.run("fetch", reg.ref("x/inspect:v1")), "--insecure-options=tls")
        rkt.insecure_options = "image,tls"
        res = rkt.run("fetch", "--full", reg.ref("x/inspect:v1")).expect(0)
        assert res.out.strip() == inspect_image.id
    finally:
        reg.stop()
