// The command lines of stage1 entrypoints (docs/architecture.md, "Entrypoint ABI"), parsed the
// same way by every stage1.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rkt {

struct Stage1RunArgs {
    bool debug = false;
    std::vector<std::string> net;
    bool interactive = false;
    std::string hostname;
    bool disable_capabilities = false;
    bool disable_paths = false;
    bool disable_seccomp = false;
    std::string engine;         // kvm only
    std::string private_users;  // --private-users=SHIFT:COUNT (nspawn only; others refuse it)
    std::string uuid;
    int lock_fd = -1;  // from RKT_LOCK_FD
};
Stage1RunArgs parse_stage1_run_args(int argc, char** argv);

struct Stage1StopArgs {
    bool force = false;
    std::string uuid;
};
Stage1StopArgs parse_stage1_stop_args(int argc, char** argv);

struct Stage1EnterArgs {
    std::string app;
    std::string uuid;
    std::vector<std::string> command;
};
Stage1EnterArgs parse_stage1_enter_args(int argc, char** argv);

struct Stage1GcArgs {
    bool debug = false;
    std::string uuid;
};
Stage1GcArgs parse_stage1_gc_args(int argc, char** argv);

}  // namespace rkt
