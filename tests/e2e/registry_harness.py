"""Registries for the end-to-end tests, all on 127.0.0.1 with free ports and temporary dirs:

- `DockerRegistry`: Debian's docker-registry (distribution 2.8), optionally with htpasswd
  (bcrypt) Basic auth, Bearer-token auth against `TokenServer`, or the redirect storage
  middleware pointing at a `BlobServer` that serves the storage directory.
- `TokenServer`: issues RS256 JWTs with an x5c chain to a self-signed certificate (openssl CLI),
  checking Basic credentials when it has some.
- `FakeRegistry`: a registry v2 front in Python serving an OCI layout, with switches for hostile
  behaviour (wrong digests, truncated bodies, huge manifests, endless index chains, throttling).
- `push()` with skopeo, `sign()`-side helpers live in the tests (rkt image sign).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Optional

import harness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Server:
    """A ThreadingHTTPServer on a free port, stopped by stop()."""

    def __init__(self, handler):
        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass


# ----------------------------------------------------------------------------------------------
# Token server


class TokenServer:
    """Issues registry tokens (distribution's token auth): RS256 JWTs whose x5c header carries a
    self-signed certificate that the registry's rootcertbundle trusts."""

    def __init__(self, workdir: Path, service: str, credentials: Optional[tuple] = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.service = service
        self.issuer = "rkt-test-issuer"
        self.credentials = credentials
        self.key = self.workdir / "token.key"
        self.cert = self.workdir / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=rkt-test-token", "-keyout", str(self.key), "-out",
                        str(self.cert)], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests = []  # (path, authorization header or None)
        server = self

        class Handler(_QuietHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Authorization")))
                if server.credentials:
                    want = "Basic " + base64.b64encode(
                        f"{server.credentials[0]}:{server.credentials[1]}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
                        self.send_response(401)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                from urllib.parse import parse_qs, urlparse
                query = parse_qs(urlparse(self.path).query)
                access = []
                for scope in query.get("scope", []):
                    kind, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
                token = server.issue(access)
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(Handler)

    @property
    def realm(self) -> str:
        return self.server.url + "/token"

    def issue(self, access: list) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.issuer, "sub": "tester", "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing_input, check=True, capture_output=True).stdout
        return signing_input.decode() + "." + b64url(sig)

    def stop(self) -> None:
        self.server.stop()


# ----------------------------------------------------------------------------------------------
# Blob server for the redirect middleware


class BlobServer:
    """Serves the registry's storage directory, as the redirect middleware expects, and records
    the Authorization header of every request (it must never see the registry's)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests = []  # (path, authorization header or None)
        server = self

        class Handler(_QuietHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Authorization")))
                path = (server.root / self.path.split("?")[0].lstrip("/")).resolve()
                if not str(path).startswith(str(server.root.resolve())) or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(Handler)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


# ----------------------------------------------------------------------------------------------
# Debian's docker-registry


class DockerRegistry:
    """docker-registry serve, on a free port with its own storage dir. auth: None, "basic"
    (htpasswd, bcrypt) or "token" (a TokenServer); redirect: blob GETs answer 307 to a
    BlobServer; tls: https with a self-signed certificate."""

    def __init__(self, workdir: Path, auth: Optional[str] = None, redirect: bool = False,
                 user: str = "tester", password: str = "s3cret pass", tls: bool = False):
        harness.require_command("docker-registry", "docker-registry")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = self.workdir / "storage"
        self.storage.mkdir(exist_ok=True)
        self.port = free_port()
        self.user, self.password = user, password
        self.token_server = None
        self.blob_server = None
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)},
                        "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": "test-secret"},
        }
        if auth == "basic":
            harness.require_command("htpasswd", "apache2-utils")
            htpasswd = self.workdir / "htpasswd"
            out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                 capture_output=True, text=True).stdout
            htpasswd.write_text(out)
            config["auth"] = {"htpasswd": {"realm": "rkt-test", "path": str(htpasswd)}}
        elif auth == "token":
            service = f"127.0.0.1:{self.port}"
            self.token_server = TokenServer(self.workdir / "token", service, (user, password))
            config["auth"] = {"token": {"realm": self.token_server.realm, "service": service,
                                        "issuer": self.token_server.issuer,
                                        "rootcertbundle": str(self.token_server.cert)}}
        if tls:
            cert, key = self.workdir / "tls.crt", self.workdir / "tls.key"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
            config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
        if redirect:
            self.blob_server = BlobServer(self.storage)
            config["middleware"] = {"storage": [{"name": "redirect",
                                                 "options": {"baseurl": self.blob_server.url + "/"}}]}
        # JSON is YAML.
        (self.workdir / "config.yml").write_text(json.dumps(config))
        self.log = open(self.workdir / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.workdir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_for_port(self.port)
        except RuntimeError:
            self.stop()
            raise

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ref(self, repo_and_tag: str) -> str:
        return f"docker://{self.host}/{repo_and_tag}"

    def creds_arg(self) -> list:
        return [f"--dest-creds={self.user}:{self.password}"]

    def push(self, layout: Path, tag: str, dest: str, all_platforms: bool = False,
             creds: bool = False, fmt: Optional[str] = None) -> None:
        """skopeo copy oci:LAYOUT:TAG docker://HOST/DEST."""
        harness.require_command("skopeo", "skopeo")
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        if all_platforms:
            argv.append("--all")
        if creds:
            argv += self.creds_arg()
        if fmt:
            argv += ["--format", fmt]
        argv += [f"oci:{layout}:{tag}", f"docker://{self.host}/{dest}"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"{argv} failed: {res.stderr}"

    def write_auth_config(self, config_dir: Path, password: Optional[str] = None) -> None:
        """<config>/auth.d/registry.json with this registry's credentials (rkt's dockerAuth)."""
        d = Path(config_dir) / "auth.d"
        d.mkdir(parents=True, exist_ok=True)
        (d / "registry.json").write_text(json.dumps({
            "rktKind": "dockerAuth", "rktVersion": "v1", "registries": [self.host],
            "credentials": {"user": self.user, "password": password or self.password}}))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        for s in (self.token_server, self.blob_server):
            if s:
                s.stop()


# ----------------------------------------------------------------------------------------------
# A registry front in Python, honest or hostile


class FakeRegistry:
    """Serves manifests and blobs from dicts (`manifests`: reference -> (media type, bytes),
    `blobs`: digest -> bytes) with Range support. Switches, set by the test:
      wrong_blob:   digest -> bytes served instead (same length, wrong content)
      truncate:     digest -> bytes actually sent before the connection is closed
      huge_manifest: reference -> size of a manifest body streamed without end
      throttle:     bytes per second for blob bodies (None: as fast as possible)
    `requests` records (method, path, range header)."""

    def __init__(self):
        self.manifests = {}
        self.blobs = {}
        self.wrong_blob = {}
        self.truncate = {}
        self.huge_manifest = {}
        self.throttle = None
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(_QuietHandler):
            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                with fake.lock:
                    fake.requests.append((self.command, self.path, self.headers.get("Range")))
                path = self.path.split("?")[0]
                if path == "/v2/":
                    return self._send(200, b"{}")
                parts = path.split("/")
                # /v2/<name...>/manifests/<ref> or /v2/<name...>/blobs/<digest>
                if len(parts) < 5 or parts[1] != "v2":
                    return self._send(404)
                kind, ref = parts[-2], parts[-1]
                if kind == "manifests":
                    if ref in fake.huge_manifest:
                        return self._huge(fake.huge_manifest[ref])
                    if ref not in fake.manifests:
                        return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
                    media_type, body = fake.manifests[ref]
                    return self._send(200, body, {"Content-Type": media_type,
                                                  "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})
                if kind == "blobs":
                    if ref not in fake.blobs:
                        return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
                    return self._blob(ref)
                return self._send(404)

            def _huge(self, size):
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b" " * 65536
                sent = 0
                try:
                    while sent < size:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:
                    pass
                self.close_connection = True

            def _blob(self, digest):
                data = fake.wrong_blob.get(digest, fake.blobs[digest])
                start = 0
                rng = self.headers.get("Range")
                status = 200
                headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes"}
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= len(data):
                        return self._send(416)
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                body = data[start:]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                limit = fake.truncate.get(digest)
                if limit is not None:
                    body = body[:max(0, limit - start)]
                    self.close_connection = True
                try:
                    if fake.throttle:
                        step = max(1, fake.throttle // 20)
                        for i in range(0, len(body), step):
                            self.wfile.write(body[i:i + step])
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass

        self.server = _Server(Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def ref(self, repo_and_tag: str) -> str:
        return f"docker://{self.host}/{repo_and_tag}"

    def add_image(self, built, tag: str) -> None:
        """Serves an oci_pack BuiltImage under `tag` and its digest."""
        self.manifests[tag] = (built.manifest_media_type, built.manifest)
        self.manifests[built.manifest_digest] = (built.manifest_media_type, built.manifest)
        self.blobs[built.config_digest] = built.config
        for layer in built.layers:
            self.blobs[layer.digest] = layer.blob

    def add_manifest(self, media_type: str, body: bytes, tag: Optional[str] = None) -> str:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = (media_type, body)
        if tag:
            self.manifests[tag] = (media_type, body)
        return digest

    def blob_requests(self, digest: str) -> list:
        with self.lock:
            return [r for r in self.requests if r[1].endswith("/blobs/" + digest)]

    def stop(self) -> None:
        self.server.stop()
