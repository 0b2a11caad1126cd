// Shared views of a pod for list, status and their JSON formats.
#pragma once

#include <nlohmann/json.hpp>

#include "stage0/pod/pod_dir.h"

namespace rkt::commands {

// The pod as rkt's v1 API JSON: name, state, networks, app_names, apps, created_at, started_at.
nlohmann::json pod_to_json(const pod::Pod& p);
// "default:ip4=172.16.28.7, ..." from net-info.json, or "".
std::string pod_networks(const pod::Pod& p);
int64_t to_unix_nanos(std::chrono::system_clock::time_point t);

}  // namespace rkt::commands
