// Pod-level options of `rkt run` / `rkt prepare` / `rkt run-prepared`.
#pragma once

#include <string>
#include <vector>

#include "stage0/app_args.h"
#include "stage0/stage1.h"

namespace rkt {

struct PodFlags {
    std::vector<std::string> set_env;  // NAME=VALUE, all apps
    std::string set_env_file;
    bool inherit_env = false;
    std::vector<std::string> volumes;
    std::vector<std::string> ports;
    std::string hostname;
    std::vector<std::string> net;  // as given ("" for a bare --net); empty: not given
    std::vector<std::string> dns;
    std::vector<std::string> dns_search;
    std::vector<std::string> dns_options;
    std::string dns_domain;
    std::vector<std::string> hosts_entries;
    bool interactive = false;
    std::string uuid_file_save;
    Stage1Selection stage1;
    std::string pull_policy = "new";
    std::string pod_manifest;
    bool private_users = false;
    bool no_overlay = false;
    AppFlags app_defaults;
};

}  // namespace rkt
