#include "network/net_plan.h"

#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "network/json_input.h"

namespace rkt::net {

namespace {

using nlohmann::json;

constexpr int kPlanVersion = 1;
// The configs and results of a few networks; anything this large was not written by us.
constexpr size_t kMaxPlanBytes = 16 << 20;

json to_json(const NetPlan& plan) {
    json networks = json::array();
    for (const auto& n : plan.networks)
        networks.push_back({{"name", n.name},
                            {"ifName", n.if_name},
                            {"cniArgs", n.cni_args},
                            {"plugins", n.plugins},
                            {"result", n.result}});
    return {{"version", kPlanVersion},
            {"containerId", plan.container_id},
            {"netns", plan.netns},
            {"networks", std::move(networks)}};
}

NetPlan from_json(const json& j) {
    if (!j.is_object() || j.value("version", 0) != kPlanVersion)
        throw Error("not a version " + std::to_string(kPlanVersion) + " plan");
    NetPlan plan;
    plan.container_id = j.at("containerId").get<std::string>();
    plan.netns = j.at("netns").get<std::string>();
    for (const auto& n : j.at("networks")) {
        PlannedNetwork network;
        network.name = n.at("name").get<std::string>();
        network.if_name = n.at("ifName").get<std::string>();
        network.cni_args = n.at("cniArgs").get<std::string>();
        for (const auto& p : n.at("plugins")) {
            if (!p.is_object() || !p.contains("type")) throw Error("a plugin without a type");
            network.plugins.push_back(p);
        }
        network.result = n.value("result", json());
        plan.networks.push_back(std::move(network));
    }
    return plan;
}

}  // namespace

void write_net_plan(const std::filesystem::path& pod_dir, const NetPlan& plan) {
    fs::write_file_atomic(pod_dir / kNetPlanFile, to_json(plan).dump(), 0600,
                          fs::Durability::kAtomicOnly);
}

std::optional<NetPlan> read_net_plan(const std::filesystem::path& pod_dir) {
    auto path = pod_dir / kNetPlanFile;
    return with_context(path.string(), [&]() -> std::optional<NetPlan> {
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) return std::nullopt;
        std::string text = fs::read_file_limited(path, kMaxPlanBytes);
        json j = parse_untrusted_json(text, "JSON", kMaxPlanBytes);
        try {
            return from_json(j);
        } catch (const json::exception& e) {
            throw Error(std::string("not a network plan: ") + e.what() +
                        " (remove it to give up on the DEL of these networks)");
        } catch (const Error& e) {
            throw e.with_context("not a network plan");
        }
    });
}

void remove_net_plan(const std::filesystem::path& pod_dir) {
    auto path = pod_dir / kNetPlanFile;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw system_error("cannot remove " + path.string());
}

}  // namespace rkt::net
