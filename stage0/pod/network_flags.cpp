#include "stage0/pod/network_flags.h"

#include <algorithm>
#include <tuple>

#include "common/error.h"
#include "common/resolv_conf.h"
#include "common/strings.h"
#include "network/net_selection.h"

namespace rkt {

namespace {

std::string in_quotes(std::string_view s) {
    return "\"" + strings::printable(s, 80) + "\"";
}

bool only(const std::vector<std::string>& v, std::string_view word) {
    return v.size() == 1 && v[0] == word;
}

// rkt's example forms, for every malformed --port.
[[noreturn]] void bad_port(const std::string& value, const std::string& why) {
    throw Error("--port " + in_quotes(value) + " " + why +
                ": write NAME:[HOSTIP:]HOSTPORT, e.g. --port=http:8080 or "
                "--port=http:127.0.0.1:8080");
}

}  // namespace

std::vector<std::string> normalize_net_flag(const std::vector<std::string>& values) {
    if (values.empty()) return {};
    std::vector<std::string> out;
    for (const auto& value : values)
        for (auto& e : strings::split(value, ','))
            if (!e.empty()) out.push_back(std::move(e));
    // A bare --net (or --net=) means rkt's default network.
    if (out.empty()) return {"default"};
    net::parse_net_selection(out);  // rkt's checks, the same the nspawn and kvm stage1s run
    return out;
}

std::string special_net(const std::vector<std::string>& net) {
    if (only(net, "host")) return "host";
    if (only(net, "none")) return "none";
    return "";
}

PortFlag parse_port_flag(const std::string& value) {
    auto colon = value.find(':');
    if (colon == std::string::npos) bad_port(value, "has no host port");
    PortFlag f;
    f.name = value.substr(0, colon);
    if (!strings::is_valid_acname(f.name))
        bad_port(value, "does not start with a port name (lower-case letters, digits, dashes)");
    std::string rest = value.substr(colon + 1);
    std::string port;
    if (!rest.empty() && rest[0] == '[') {  // [IPv6]:PORT
        auto close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            bad_port(value, "has an unclosed [IPv6] address");
        f.host_ip = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
        if (f.host_ip.find(':') == std::string::npos || !is_ip_address(f.host_ip))
            bad_port(value, "has \"" + strings::printable(f.host_ip, 80) +
                                "\" in brackets, which is not an IPv6 address");
    } else if (auto last = rest.rfind(':'); last != std::string::npos) {
        f.host_ip = rest.substr(0, last);
        port = rest.substr(last + 1);
        // An IPv6 address must be bracketed, or its last group would read as the port.
        if (f.host_ip.find(':') != std::string::npos)
            bad_port(value, "has an IPv6 host address without brackets ([::1]:8080)");
        if (!is_ip_address(f.host_ip))
            bad_port(value, "has host address \"" + strings::printable(f.host_ip, 80) +
                                "\", which is not an IP address");
    } else {
        port = rest;
    }
    if (!strings::is_decimal(port) || port.size() > 5 || std::stoul(port) < 1 ||
        std::stoul(port) > 65535)
        bad_port(value, "has host port \"" + strings::printable(port, 80) +
                            "\", which is not a number from 1 to 65535");
    f.host_port = static_cast<uint16_t>(std::stoul(port));
    return f;
}

std::vector<PortSpec> ports_from_exposed(const std::vector<std::string>& exposed) {
    std::vector<PortSpec> out;
    for (const auto& e : exposed) {
        auto slash = e.find('/');
        std::string number = e.substr(0, slash);
        std::string proto =
            slash == std::string::npos ? "tcp" : strings::to_lower(e.substr(slash + 1));
        if (!strings::is_decimal(number) || number.size() > 5) continue;
        unsigned long port = std::stoul(number);
        if (port < 1 || port > 65535 || (proto != "tcp" && proto != "udp")) continue;
        PortSpec p{number + "-" + proto, proto, static_cast<uint16_t>(port)};
        bool seen = std::any_of(out.begin(), out.end(),
                                [&](const PortSpec& o) { return o.name == p.name; });
        if (!seen) out.push_back(std::move(p));
    }
    return out;
}

std::vector<PortForward> resolve_port_flags(const std::vector<std::string>& values,
                                            const PodManifest& manifest) {
    std::vector<PortForward> out;
    for (const auto& value : values) {
        PortFlag f = parse_port_flag(value);
        const PortSpec* found = nullptr;
        std::vector<std::string> exposed;
        for (const auto& app : manifest.apps) {
            for (const auto& p : app.app.ports) {
                if (std::find(exposed.begin(), exposed.end(), p.name) == exposed.end())
                    exposed.push_back(p.name);
                if (p.name != f.name) continue;
                if (found && (found->port != p.port || found->protocol != p.protocol))
                    throw Error("--port " + in_quotes(value) + ": port name \"" + f.name +
                                "\" is exposed by two apps as different ports; name the port "
                                "in one app's image differently");
                if (!found) found = &p;
            }
        }
        if (!found)
            throw Error("--port " + in_quotes(value) + ": port name \"" + f.name +
                        "\" is not exposed by any app of the pod (" +
                        (exposed.empty() ? std::string("no app exposes a port")
                                         : "exposed: " + strings::join(exposed, ", ")) +
                        ")");
        PortForward pf{f.name, found->protocol, found->port, f.host_ip, f.host_port};
        for (const auto& other : out) {
            // Every address (no HOSTIP) overlaps with any one address.
            bool same_ip =
                other.host_ip == pf.host_ip || other.host_ip.empty() || pf.host_ip.empty();
            if (other.protocol == pf.protocol && other.host_port == pf.host_port && same_ip)
                throw Error("--port " + in_quotes(value) + ": host port " +
                            std::to_string(pf.host_port) + "/" + pf.protocol +
                            (pf.host_ip.empty() ? "" : " on " + pf.host_ip) +
                            " is already forwarded to port \"" + other.name + "\"");
        }
        out.push_back(std::move(pf));
    }
    return out;
}

void check_network_flags(const std::vector<std::string>& net, const std::vector<std::string>& ports,
                         const RunOptions& o) {
    std::string special = special_net(net);
    if (!special.empty() && !ports.empty())
        throw Error("--port flag does not work with '" + special + "' networking");
    for (const auto& p : ports) parse_port_flag(p);
    check_dns_flags(o.dns, o.dns_search, o.dns_options, o.dns_domain);
    check_hosts_entries(o.hosts_entries);
}

void check_stage1_network(const Stage1& stage1, const std::vector<std::string>& net, bool net_given,
                          bool has_ports, const RunOptions& o) {
    if (stage1.name != "fly") return;
    if (net_given && !only(net, "host"))
        throw Error(
            "the fly stage1 has no network of its own: it shares the host's (drop --net, or use "
            "--net=host)");
    if (has_ports)
        throw Error(
            "--port does not work with the fly stage1: its app shares the host's network, so "
            "it listens on the host's ports itself (drop --port)");
    bool dns_flags = !(o.dns.empty() || only(o.dns, "host") || only(o.dns, "none")) ||
                     !o.dns_search.empty() || !o.dns_options.empty() || !o.dns_domain.empty();
    bool hosts_entries = !o.hosts_entries.empty() && !only(o.hosts_entries, "host");
    if (dns_flags || hosts_entries)
        throw Error(std::string(dns_flags ? "--dns with addresses, --dns-search, --dns-opt and "
                                            "--dns-domain do"
                                          : "--hosts-entry IP=HOST does") +
                    " not work with the fly stage1: its app shares the host's network and uses "
                    "its image's files (use " +
                    (dns_flags ? "--dns=host" : "--hosts-entry=host") + " for the host's)");
}

}  // namespace rkt
