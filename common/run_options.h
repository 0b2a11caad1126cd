// Pod options that are not part of the PodManifest; stage0 writes them to
// <pod>/run-options.json and every stage1 reads them (docs/architecture.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt {

struct RunOptions {
    std::string hostname;
    std::vector<std::string> net = {"default"};
    std::vector<std::string> dns;
    std::vector<std::string> hosts_entries;
    std::vector<std::string> insecure_options;
    bool interactive = false;
    bool debug = false;
    std::string engine;
    std::optional<uint64_t> memory;      // sum of the apps' memory limits, bytes
    std::optional<uint64_t> cpu_millis;  // sum of the apps' CPU limits
    // "SHIFT:COUNT" (common/id_shift.h) when the pod runs in a user namespace, else empty.
    std::string private_users;

    nlohmann::json to_json() const;
    static RunOptions from_json(const nlohmann::json& j);
};

// Reads <pod_dir>/run-options.json (defaults when absent).
RunOptions load_run_options(const std::string& pod_dir);

}  // namespace rkt
