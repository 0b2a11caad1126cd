"""Pod networking with CNI (docs/networking.md), end to end, on nspawn, kvm with QEMU and kvm
with the built-in VMM (inside the KVM test host: test_kvm_builtin.py): rkt's `default` network
(ptp, 172.16.28.0/24, masquerade, a default route), `default-restricted`, user networks from
<local-config>/net.d, several at once, --net=none and --net=host, --port through the portmap
plugin, and every bad input as one error line with nothing left behind. Traffic only goes
between the host and pods, and pod to pod; masquerade rules are checked by listing them."""

from __future__ import annotations

import http.server
import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from harness import have_command, images, one_error_line, pack, require, require_root
from stage1_pods import STAGE1S, line, remove_pods, run, spawn_pod

DEFAULT_SUBNET = ipaddress.ip_network("172.16.28.0/24")
DEFAULT_GATEWAY = "172.16.28.1"
CNI = Path("/usr/lib/cni")


def require_cni() -> None:
    require_root()
    require((CNI / "ptp").exists(), f"CNI plugins not installed ({CNI}/ptp; Debian package "
                                    "containernetworking-plugins)")
    for cmd, package in (("iptables", "iptables"), ("ip", "iproute2"), ("tc", "iproute2")):
        require(have_command(cmd), f"{cmd} not found (Debian package {package})")


@pytest.fixture(params=sorted(STAGE1S))
def stage1(request, build_dir):
    require_cni()
    s = STAGE1S[request.param]
    s.require(build_dir)
    return s


@pytest.fixture(autouse=True)
def _remove_pods(request, rkt):
    yield
    remove_pods(rkt)


@pytest.fixture(scope="session")
def web_image(inspect_binary, images_dir):
    """The inspect image, exposing 8080/tcp (the appc port "8080-tcp")."""
    return pack(images.inspect_image(inspect_binary, exposed_ports=["8080/tcp"]),
                images_dir / "inspect-web")


# ---- what the host has: interfaces, namespaces, rules, leases ----

def host_links() -> set:
    return set(os.listdir("/sys/class/net"))


def host_addresses() -> list:
    """The host's global IPv4 addresses (the host's end of the pods' veths among them)."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout
    return [a["local"] for link in json.loads(out) for a in link.get("addr_info", [])
            if "local" in a]


def rkt_netns() -> set:
    d = Path("/run/netns")
    return {p.name for p in d.iterdir() if p.name.startswith("rkt-")} if d.exists() else set()


def nat_rules_of(uuid: str) -> list:
    """The nat table's rules that name the pod (CNI's comments carry the container id)."""
    out = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True,
                         check=True).stdout
    return [r for r in out.splitlines() if uuid in r]


def leases(rkt) -> list:
    """host-local's lease files under the data directory (one per address in use)."""
    root = rkt.data_dir / "networks" / "ipam"
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and
            not p.name.startswith(("last_reserved_ip", "lock"))]


def net_info(rkt, uuid: str) -> list:
    return json.loads((rkt.pod_dir(uuid) / "net-info.json").read_text())


def pod_ip(rkt, uuid: str, net: str = "default") -> str:
    for n in net_info(rkt, uuid):
        if n["netName"] == net:
            return n["ip"]
    raise AssertionError(f"no network {net} in {net_info(rkt, uuid)}")


def http_get(url: str, timeout: float = 60) -> str:
    """GETs `url`, retrying while the pod's server is not up yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class HostServer:
    """An HTTP server on the host (every address) that answers GET with `body`."""

    def __init__(self, body: str):
        payload = body.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def assert_nothing_left(rkt, uuid: str, links_before: set) -> None:
    assert not [n for n in rkt_netns() if uuid in n], rkt_netns()
    assert not nat_rules_of(uuid)
    assert not leases(rkt), leases(rkt)
    assert host_links() <= links_before, host_links() - links_before


# ---- the default network ----

def test_default_network_gives_an_address_and_a_default_route(rkt, stage1, inspect_image):
    links = host_links()
    res, uuid = run(rkt, stage1, inspect_image, "--print-ipv4=eth0", "--print-defaultgwv4",
                    "--print-iface-count")
    res.expect(0)
    # lo and eth0: nothing of the host's, nothing of the pod namespace's taps (kvm)
    assert line(res.out, "Interface count:") == "2"
    ip = line(res.out, "eth0 IPv4:")
    assert ipaddress.ip_address(ip) in DEFAULT_SUBNET, res.out
    assert line(res.out, "DefaultGWv4:") == DEFAULT_GATEWAY
    info = net_info(rkt, uuid)
    assert [(n["netName"], n["ifName"], n["ip"], n["mask"]) for n in info] == \
        [("default", "eth0", ip, "255.255.255.0")]
    status = rkt.status(uuid)
    assert status["networks"] == f"default:ip4={ip}"
    # The pod ended: its network went with it, even before gc.
    assert_nothing_left(rkt, uuid, links)


def test_masquerade_rule_while_the_pod_runs(rkt, stage1, inspect_image):
    proc, uuid = spawn_pod(rkt, stage1, inspect_image, "--sleep=-1")
    ip = pod_ip(rkt, uuid)
    rules = nat_rules_of(uuid)
    assert any("MASQUERADE" in r for r in rules) or any("-j CNI-" in r for r in rules), rules
    assert any(ip in r for r in rules), rules
    listing = rkt.run("list", "--no-legend").expect(0).out
    assert f"default:ip4={ip}" in listing


def test_host_to_pod_and_pod_to_host_http(rkt, stage1, inspect_image):
    proc, uuid = spawn_pod(rkt, stage1, inspect_image, "--serve-http=:8080",
                           "--content=served-by-the-pod")
    ip = pod_ip(rkt, uuid)
    assert http_get(f"http://{ip}:8080/") == "served-by-the-pod"
    server = HostServer("served-by-the-host")
    try:
        res, _ = run(rkt, stage1, inspect_image,
                     f"--get-http=http://{DEFAULT_GATEWAY}:{server.port}/")
        res.expect(0)
        assert "served-by-the-host" in res.out
    finally:
        server.close()


def test_two_pods_talk(rkt, stage1, inspect_image):
    proc, uuid = spawn_pod(rkt, stage1, inspect_image, "--serve-http=:8080",
                           "--content=from-pod-a")
    ip = pod_ip(rkt, uuid)
    http_get(f"http://{ip}:8080/")  # up
    res, other = run(rkt, stage1, inspect_image, f"--get-http=http://{ip}:8080/")
    res.expect(0)
    assert "from-pod-a" in res.out
    assert pod_ip(rkt, other) != ip


def test_port_forward_from_the_host(rkt, stage1, web_image):
    host_port = free_port()
    proc, uuid = spawn_pod(rkt, stage1, web_image, "--serve-http=:8080", "--content=forwarded",
                           flags=(f"--port=8080-tcp:{host_port}",))
    assert http_get(f"http://127.0.0.1:{host_port}/") == "forwarded"
    # and through the host's own addresses
    for address in host_addresses():
        assert http_get(f"http://{address}:{host_port}/") == "forwarded", address
    assert any("DNAT" in r for r in nat_rules_of(uuid)) or nat_rules_of(uuid)


def test_restricted_network_has_no_default_route(rkt, stage1, inspect_image):
    res, uuid = run(rkt, stage1, inspect_image, "--print-ipv4=eth0", "--print-defaultgwv4",
                    flags=("--net=default-restricted",))
    res.expect(0)
    assert ipaddress.ip_address(line(res.out, "eth0 IPv4:")) in \
        ipaddress.ip_network("172.31.0.0/16")
    assert line(res.out, "DefaultGWv4:") == "none"


def test_two_networks_at_once(rkt, stage1, inspect_image):
    write_net(rkt, "10-second.conf", {
        "cniVersion": "1.0.0", "name": "second", "type": "ptp",
        "ipam": {"type": "host-local", "subnet": "10.231.7.0/24"}})
    res, uuid = run(rkt, stage1, inspect_image, "--print-ipv4=eth0", "--print-ipv4=eth1",
                    "--print-defaultgwv4", flags=("--net=default,second",))
    res.expect(0)
    assert ipaddress.ip_address(line(res.out, "eth0 IPv4:")) in DEFAULT_SUBNET
    assert ipaddress.ip_address(line(res.out, "eth1 IPv4:")) in \
        ipaddress.ip_network("10.231.7.0/24")
    assert line(res.out, "DefaultGWv4:") == DEFAULT_GATEWAY
    assert [n["netName"] for n in net_info(rkt, uuid)] == ["default", "second"]


def test_a_chosen_ip(rkt, stage1, inspect_image):
    res, _ = run(rkt, stage1, inspect_image, "--print-ipv4=eth0",
                 flags=("--net=default:IP=172.16.28.77",))
    res.expect(0)
    assert line(res.out, "eth0 IPv4:") == "172.16.28.77"


def test_none_has_only_loopback(rkt, stage1, inspect_image):
    res, uuid = run(rkt, stage1, inspect_image, "--print-iface-count", flags=("--net=none",))
    res.expect(0)
    assert line(res.out, "Interface count:") == "1"
    assert "networks" not in rkt.status(uuid) or rkt.status(uuid)["networks"] == ""


def test_host_network(rkt, stage1, inspect_image):
    if stage1.vm:
        res, _ = run(rkt, stage1, inspect_image, flags=("--net=host",))
        one_error_line(res, "--net=host")
        return
    res, _ = run(rkt, stage1, inspect_image, "--print-iface-count", flags=("--net=host",))
    res.expect(0)
    assert line(res.out, "Interface count:") == str(len(host_links()))


# ---- bad input: one line, exit 254, nothing half-networked ----

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def write_net(rkt, name: str, conf) -> None:
    d = rkt.local_config / "net.d"
    d.mkdir(exist_ok=True)
    (d / name).write_text(conf if isinstance(conf, str) else json.dumps(conf))


def plugin_dir(rkt, plugins: dict) -> Path:
    """A plugin directory of shell scripts, searched before Debian's."""
    d = rkt.scratch / "cni-plugins"
    d.mkdir(exist_ok=True)
    for name, script in plugins.items():
        p = d / name
        p.write_text("#!/bin/sh\n" + script)
        p.chmod(0o755)
    return d


# Each misbehaves on ADD only: a DEL (the stage1 undoing the failed ADD) succeeds, as a plugin's
# DEL must even for what it never added.
_ON_DEL = 'if [ "$CNI_COMMAND" != ADD ]; then cat >/dev/null; exit 0; fi\n'
BAD_PLUGINS = {
    "fails": _ON_DEL + 'cat >/dev/null; echo \'{"cniVersion":"1.0.0","code":7,"msg":"told to fail"}\'; '
             "exit 1\n",
    "garbage": _ON_DEL + "cat >/dev/null; printf 'not json \\001\\002'; exit 0\n",
    "hangs": _ON_DEL + "exec sleep 600\n",
}


@pytest.mark.parametrize("case", ["unparsable", "missing-plugin", "plugin-fails",
                                  "plugin-garbage", "plugin-hangs", "unknown-network",
                                  "ip-outside-subnet", "port-not-exposed", "host-port-in-use"])
def test_bad_network_input(rkt, stage1, web_image, case):
    links = host_links()
    netns = rkt_netns()
    env = {}
    flags = []
    global_flags = []
    keep = None
    if case == "unparsable":
        write_net(rkt, "10-broken.conf", '{"name": "broken", "type": ')
        flags, needle = ["--net=broken"], "broken"
    elif case == "missing-plugin":
        write_net(rkt, "10-nope.conf", {"cniVersion": "1.0.0", "name": "nope",
                                        "type": "no-such-plugin"})
        flags, needle = ["--net=nope"], "no-such-plugin"
    elif case.startswith("plugin-"):
        kind = case[len("plugin-"):]
        d = plugin_dir(rkt, BAD_PLUGINS)
        write_net(rkt, f"10-{kind}.conflist", {
            "cniVersion": "1.0.0", "name": kind,
            "plugins": [{"type": "ptp", "ipam": {"type": "host-local",
                                                 "subnet": "10.231.9.0/24"}},
                        {"type": {"fails": "fails", "garbage": "garbage",
                                  "hangs": "hangs"}[kind]}]})
        flags = [f"--net={kind}"]
        global_flags = [f"--cni-plugin-dir={d}:{CNI}"]
        env = {"RKT_CNI_TIMEOUT": "2"}
        needle = {"fails": "told to fail", "garbage": "garbage", "hangs": "hangs"}[kind]
    elif case == "unknown-network":
        flags, needle = ["--net=no-such-net"], "no-such-net"
    elif case == "ip-outside-subnet":
        flags, needle = ["--net=default:IP=10.9.8.7"], "10.9.8.7"
    elif case == "port-not-exposed":
        flags, needle = ["--port=9999-tcp:18081"], "9999-tcp"
    else:
        keep = socket.socket()
        keep.bind(("0.0.0.0", 0))
        keep.listen()
        port = keep.getsockname()[1]
        flags, needle = [f"--port=8080-tcp:{port}"], str(port)
    try:
        res = rkt.run(*global_flags, "run", stage1.flag, *flags, web_image.arg, env=env,
                      timeout=120)
        one_error_line(res, needle)
    finally:
        if keep:
            keep.close()
    assert rkt_netns() <= netns, rkt_netns() - netns
    assert host_links() <= links, host_links() - links
    assert not leases(rkt), leases(rkt)


def test_run_prepared_takes_the_network_flags(rkt, stage1, inspect_image):
    res = rkt.run("prepare", "--quiet", stage1.flag, inspect_image.arg, "--",
                  "--print-ipv4=eth0", "--print-defaultgwv4").expect(0)
    uuid = res.out.strip().splitlines()[-1]
    res = rkt.run("run-prepared", "--net=default-restricted", "--dns=10.0.0.53", uuid)
    res.expect(0)
    assert ipaddress.ip_address(line(res.out, "eth0 IPv4:")) in \
        ipaddress.ip_network("172.31.0.0/16")
    assert line(res.out, "DefaultGWv4:") == "none"
    assert [n["netName"] for n in net_info(rkt, uuid)] == ["default-restricted"]
