#include "network/pod_network.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "network/cni_plugin.h"
#include "network/host_ports.h"
#include "network/net_info.h"
#include "network/net_plan.h"
#include "network/netns.h"

namespace rkt::net {

namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

constexpr const char* kNetnsFile = "netns";

// The chain of one network as its plugins will get it.
struct PreparedNetwork {
    const NetworkConfig* config = nullptr;
    const NetRequest* request = nullptr;
    std::string if_name;
    std::string cni_args;
    std::vector<json> plugins;  // execution configs, without prevResult
    std::string first_plugin_path;
};

std::string describe(const std::string& name, const std::string& if_name) {
    return "network " + name + " (" + if_name + ")";
}

// Plugins of 1.1.1 refuse CNI_ARGS keys they do not know unless told to ignore them.
std::string cni_args_for(const std::string& args) {
    if (args.empty() || args.find("IgnoreUnknown=") != std::string::npos) return args;
    return "IgnoreUnknown=1;" + args;
}

json port_mappings(const std::vector<PortForward>& ports) {
    json list = json::array();
    for (const auto& p : ports) {
        json m = {
            {"hostPort", p.host_port}, {"containerPort", p.pod_port}, {"protocol", p.protocol}};
        if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
        list.push_back(std::move(m));
    }
    return list;
}

// One plugin's execution config (spec: name and cniVersion from the list, runtimeConfig for
// the capabilities it declares that rkt supplies, capabilities removed).
json execution_config(const json& plugin, const json& list, const json* mappings) {
    json config = plugin;
    config["name"] = list["name"];
    config["cniVersion"] = list["cniVersion"];
    if (mappings) {
        auto caps = plugin.find("capabilities");
        if (caps != plugin.end() && caps->is_object() && caps->value("portMappings", false) == true)
            config["runtimeConfig"] = {{"portMappings", *mappings}};
    }
    config.erase("capabilities");
    return config;
}

void check_plugins_exist(const json& plugin, const std::vector<std::string>& cni_path) {
    find_plugin(plugin.at("type").get<std::string>(), cni_path);
    if (auto ipam = plugin.find("ipam"); ipam != plugin.end() && ipam->contains("type"))
        find_plugin(ipam->at("type").get<std::string>(), cni_path);
}

std::string unknown_network_message(const std::string& name, const PodNetworkSpec& spec,
                                    const std::map<std::string, NetworkConfig>& configs) {
    std::vector<std::string> known;
    known.reserve(configs.size());
    for (const auto& [n, c] : configs) known.push_back(n);
    return "network \"" + name + "\" is not configured: add " + name + ".conf or " + name +
           ".conflist to " + (spec.configs.local_config / "net.d").string() +
           " (configured networks: " + strings::join(known, ", ") + ")";
}

// The network that gets the port forwards: the first that masquerades, else the last.
size_t port_network_index(const std::vector<PreparedNetwork>& networks) {
    for (size_t i = 0; i < networks.size(); ++i)
        if (networks[i].config->ip_masq) return i;
    return networks.size() - 1;
}

std::vector<PreparedNetwork> prepare(const PodNetworkSpec& spec,
                                     const std::map<std::string, NetworkConfig>& configs,
                                     const json& mappings) {
    std::vector<PreparedNetwork> networks;
    for (size_t i = 0; i < spec.networks.size(); ++i) {
        const NetRequest& request = spec.networks[i];
        auto it = configs.find(request.name);
        if (it == configs.end()) throw Error(unknown_network_message(request.name, spec, configs));
        networks.push_back(
            {&it->second, &request, "eth" + std::to_string(i), cni_args_for(request.args), {}, ""});
    }
    std::optional<size_t> port_network;
    if (!spec.ports.empty()) port_network = port_network_index(networks);
    for (size_t i = 0; i < networks.size(); ++i) {
        PreparedNetwork& n = networks[i];
        json chain = n.config->list["plugins"];
        bool forwards = port_network == i;
        if (forwards && std::none_of(chain.begin(), chain.end(), [](const json& p) {
                return p.value("type", "") == "portmap";
            }))
            chain.push_back(
                {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}});
        with_context(describe(n.request->name, n.if_name), [&] {
            for (const auto& plugin : chain) {
                check_plugins_exist(plugin, spec.cni_path);
                n.plugins.push_back(
                    execution_config(plugin, n.config->list, forwards ? &mappings : nullptr));
            }
            n.first_plugin_path =
                find_plugin(chain[0].at("type").get<std::string>(), spec.cni_path);
        });
    }
    return networks;
}

PluginCall make_call(const std::string& command, const NetPlan& plan, const PlannedNetwork& n,
                     const std::vector<std::string>& cni_path, std::chrono::milliseconds timeout) {
    PluginCall call;
    call.command = command;
    call.container_id = plan.container_id;
    call.netns = plan.netns;
    call.ifname = n.if_name;
    call.args = n.cni_args;
    call.search_path = cni_path;
    call.timeout = timeout;
    return call;
}

// DEL of one network's chain, last plugin first, each with the chain's result as prevResult.
// Returns the failures.
std::vector<std::string> del_network(const NetPlan& plan, const PlannedNetwork& n,
                                     const std::vector<std::string>& cni_path,
                                     std::chrono::milliseconds timeout) {
    std::vector<std::string> failures;
    PluginCall call = make_call("DEL", plan, n, cni_path, timeout);
    // The namespace is optional for DEL; a path that is gone (or, after a reboot, an empty file)
    // would only make plugins fail.
    if (!call.netns.empty() && !is_bound_netns(call.netns)) call.netns.clear();
    for (auto plugin = n.plugins.rbegin(); plugin != n.plugins.rend(); ++plugin) {
        call.config = *plugin;
        if (!n.result.is_null()) call.config["prevResult"] = n.result;
        try {
            run_plugin(call);
        } catch (const Error& e) {
            failures.push_back(describe(n.name, n.if_name) + ": " + e.what());
        }
    }
    return failures;
}

std::vector<std::string> del_all(const NetPlan& plan, const std::vector<std::string>& cni_path,
                                 std::chrono::milliseconds timeout) {
    std::vector<std::string> failures;
    for (auto n = plan.networks.rbegin(); n != plan.networks.rend(); ++n) {
        auto more = del_network(plan, *n, cni_path, timeout);
        failures.insert(failures.end(), more.begin(), more.end());
    }
    return failures;
}

}  // namespace

std::vector<AttachedNetwork> attach_networks(const PodNetworkSpec& spec,
                                             PortReservations& reservations) {
    if (spec.networks.empty()) return {};
    auto configs = load_network_configs(spec.configs);
    json mappings = port_mappings(spec.ports);
    std::vector<PreparedNetwork> prepared = prepare(spec, configs, mappings);
    PortReservations ports;
    reserve_host_ports(spec.ports, ports);

    fs::write_file_atomic(spec.pod_dir / kNetnsFile, spec.netns, 0644, fs::Durability::kAtomicOnly);
    NetPlan plan{spec.uuid, spec.netns, {}};
    std::vector<AttachedNetwork> attached;
    try {
        for (const auto& n : prepared) {
            plan.networks.push_back({n.request->name, n.if_name, n.cni_args, n.plugins, nullptr});
            write_net_plan(spec.pod_dir, plan);  // before the ADD: a crash in it leaves a DEL
            PlannedNetwork& planned = plan.networks.back();
            with_context(describe(n.request->name, n.if_name), [&] {
                PluginCall call =
                    make_call("ADD", plan, planned, spec.cni_path, spec.plugin_timeout);
                for (const auto& plugin : n.plugins) {
                    call.config = plugin;
                    if (!planned.result.is_null()) call.config["prevResult"] = planned.result;
                    std::string type = plugin.value("type", "?");
                    json out = run_plugin(call);
                    if (out.is_null()) throw Error("plugin " + type + ": ADD printed no result");
                    with_context("plugin " + type + ": ADD result", [&] { parse_cni_result(out); });
                    planned.result = std::move(out);
                }
                write_net_plan(spec.pod_dir, plan);
                attached.push_back(describe_network(n.request->name, n.config->source,
                                                    n.first_plugin_path, n.if_name, n.request->args,
                                                    parse_cni_result(planned.result)));
            });
        }
        write_net_info(spec.pod_dir, attached);
    } catch (const Error& e) {
        // Undo what was added (the failed network too: a DEL must follow even a failed ADD).
        auto failures = del_all(plan, spec.cni_path, spec.plugin_timeout);
        for (const auto& f : failures) log::warn("after a failed ADD, DEL failed: " + f);
        if (failures.empty()) {
            try {
                remove_net_plan(spec.pod_dir);
            } catch (const Error& removal) {
                log::warn(removal.what());
            }
        }
        throw;
    }
    for (auto& sock : ports.sockets) reservations.sockets.push_back(std::move(sock));
    return attached;
}

void detach_networks(const stdfs::path& pod_dir, const std::vector<std::string>& cni_path,
                     std::chrono::milliseconds plugin_timeout) {
    std::optional<NetPlan> plan = read_net_plan(pod_dir);
    if (plan) {
        auto failures = del_all(*plan, cni_path, plugin_timeout);
        if (!failures.empty())
            throw Error("cannot remove the pod's networks (" + (pod_dir / kNetPlanFile).string() +
                        " is kept, so a later gc tries again): " + strings::join(failures, "; "));
        remove_net_plan(pod_dir);
    }
    std::string netns = plan ? plan->netns : "";
    if (netns.empty()) {
        auto recorded = fs::read_file_if_exists(pod_dir / kNetnsFile);
        if (recorded) netns = strings::trim(recorded->substr(0, 4096));
    }
    if (netns.empty()) return;
    // The name comes from a file: only ever unmount and remove a namespace of ours.
    stdfs::path path(netns);
    if (path.parent_path() != stdfs::path(netns_path_for("x")).parent_path() ||
        !path.filename().string().starts_with("rkt-"))
        throw Error("the pod's netns file names " + strings::printable(netns) +
                    ", which is not a network namespace of rkt's (/run/netns/rkt-*)");
    remove_netns(netns);
}

}  // namespace rkt::net
