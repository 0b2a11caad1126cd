#include "network/net_info.h"

#include <netinet/in.h>

#include "common/fs.h"
#include "network/addresses.h"
#include "network/json_input.h"

namespace rkt::net {

namespace {

using nlohmann::json;

constexpr size_t kMaxNetInfoBytes = 16 << 20;

json to_json(const AttachedNetwork& n) {
    return {{"netName", n.net_name},
            {"netConf", n.net_conf},
            {"pluginPath", n.plugin_path},
            {"ifName", n.if_name},
            {"ip", n.ip},
            {"args", n.args},
            {"mask", n.mask},
            {"gateway", n.gateway},
            {"result", n.result.raw}};
}

AttachedNetwork from_json(const json& j) {
    AttachedNetwork n;
    n.net_name = j.at("netName").get<std::string>();
    n.net_conf = j.value("netConf", "");
    n.plugin_path = j.value("pluginPath", "");
    n.if_name = j.value("ifName", "");
    n.ip = j.value("ip", "");
    n.args = j.value("args", "");
    n.mask = j.value("mask", "");
    n.gateway = j.value("gateway", "");
    if (auto r = j.find("result"); r != j.end() && r->is_object()) n.result = parse_cni_result(*r);
    return n;
}

}  // namespace

AttachedNetwork describe_network(const std::string& name, const std::string& source,
                                 const std::string& plugin_path, const std::string& if_name,
                                 const std::string& args, const CniResult& result) {
    AttachedNetwork n{name, source, plugin_path, if_name, "", "", args, "", result};
    const CniIp* chosen = nullptr;
    for (const auto& ip : result.ips) {
        auto cidr = parse_cidr(ip.address);
        if (!cidr || cidr->family != AF_INET) continue;
        bool in_pod = ip.interface && !result.interfaces[*ip.interface].sandbox.empty();
        if (!chosen || (in_pod && !(chosen->interface &&
                                    !result.interfaces[*chosen->interface].sandbox.empty())))
            chosen = &ip;
    }
    if (chosen) {
        auto cidr = parse_cidr(chosen->address);
        n.ip = cidr->address;
        n.mask = netmask(cidr->family, cidr->prefix);
        n.gateway = chosen->gateway;
    }
    return n;
}

void write_net_info(const std::filesystem::path& pod_dir,
                    const std::vector<AttachedNetwork>& networks) {
    json list = json::array();
    for (const auto& n : networks) list.push_back(to_json(n));
    fs::write_file_atomic(pod_dir / kNetInfoFile, list.dump(2) + "\n", 0644,
                          fs::Durability::kAtomicOnly);
}

std::vector<AttachedNetwork> read_net_info(const std::filesystem::path& pod_dir) {
    try {
        auto path = pod_dir / kNetInfoFile;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) return {};
        json j = parse_untrusted_json(fs::read_file_limited(path, kMaxNetInfoBytes), kNetInfoFile,
                                      kMaxNetInfoBytes);
        if (!j.is_array()) return {};
        std::vector<AttachedNetwork> networks;
        for (const auto& entry : j) networks.push_back(from_json(entry));
        return networks;
    } catch (const std::exception&) {
        return {};  // a garbled file describes nothing
    }
}

std::string networks_summary(const std::vector<AttachedNetwork>& networks, const std::string& sep) {
    std::string out;
    for (const auto& n : networks) {
        if (n.ip.empty()) continue;
        if (!out.empty()) out += sep;
        out += n.net_name + ":ip4=" + n.ip;
    }
    return out;
}

}  // namespace rkt::net
