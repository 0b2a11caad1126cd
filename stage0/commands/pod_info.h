// Shared views of a pod for list, status and their JSON formats.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "stage0/pod/pod_dir.h"

namespace rkt::commands {

// `rkt status`'s key=value lines (rkt's, in rkt's order), plus app-NAME-reason=WORD after
// app-NAME=CODE when the stage1 recorded why the app ended (e.g. oom-killed).
std::string status_text(const pod::Pod& p);
// The pod as rkt's v1 API JSON: name, state, networks, app_names, apps, created_at, started_at;
// an exited app's entry has its exit_code and, when recorded, its end_reason.
nlohmann::json pod_to_json(const pod::Pod& p);
// "default:ip4=172.16.28.7, ..." from net-info.json, or "" (rkt list's NETWORKS column).
std::string pod_networks(const pod::Pod& p);
// <pod_dir>/net-info.json as rkt's v1 API has it: an array of {netName, netConf, pluginPath,
// ifName, ip, args, mask}, every field a string; [] when absent, unreadable or garbled.
nlohmann::json pod_net_info(const std::filesystem::path& pod_dir);
// "NAME:ip4=IP" of each network with an address, joined by `sep`.
std::string networks_text(const nlohmann::json& net_info, const std::string& sep);
int64_t to_unix_nanos(std::chrono::system_clock::time_point t);

}  // namespace rkt::commands
