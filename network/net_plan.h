// net-plan.json: what a pod's networks need for their DEL, written before each ADD, so that a
// DEL can run from the pod directory alone (after a crash or a kill -9 of everything).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt::net {

struct PlannedNetwork {
    std::string name;
    std::string if_name;
    std::string cni_args;  // exactly as given to the plugins
    // Each plugin's config exactly as its ADD got it, without prevResult.
    std::vector<nlohmann::json> plugins;
    nlohmann::json result;  // the chain's last result known (null before the first)
};

struct NetPlan {
    std::string container_id;
    std::string netns;
    std::vector<PlannedNetwork> networks;  // in ADD order
};

inline constexpr const char* kNetPlanFile = "net-plan.json";

// Written atomically (readers and a killed writer see the old plan or the new one).
void write_net_plan(const std::filesystem::path& pod_dir, const NetPlan& plan);
// nullopt when there is none; an Error naming the file when it cannot be read.
std::optional<NetPlan> read_net_plan(const std::filesystem::path& pod_dir);
void remove_net_plan(const std::filesystem::path& pod_dir);

}  // namespace rkt::net
