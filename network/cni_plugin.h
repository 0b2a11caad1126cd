// Running one CNI plugin (spec 1.0.0, "Execution protocol"): the config on stdin, the CNI_*
// variables in an environment of their own, the result or error on stdout. The plugin is
// looked up on the search path by its "type"; it runs with a time limit, its output is bounded,
// and whatever it prints is parsed as hostile.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt::net {

struct PluginCall {
    std::string command;                   // ADD, DEL, CHECK, VERSION
    std::string container_id;              // the pod's UUID
    std::string netns;                     // path of the pod's network namespace
    std::string ifname;                    // eth0, eth1, ...
    std::string args;                      // CNI_ARGS
    std::vector<std::string> search_path;  // CNI_PATH
    nlohmann::json config;  // one plugin's config, with name, cniVersion (and prevResult)
    std::chrono::milliseconds timeout{30'000};
};

// Runs the plugin; returns what it printed (parsed JSON; null for an empty output, as DEL
// gives). Throws an Error "plugin TYPE: ..." for a plugin not found on the path, an error result
// (its msg and details), a timeout (the plugin is killed), a crash, or output that is not JSON.
nlohmann::json run_plugin(const PluginCall& call);

// The path of the plugin `type` on `search_path`; throws an Error naming the path when absent.
std::string find_plugin(const std::string& type, const std::vector<std::string>& search_path);

}  // namespace rkt::net
