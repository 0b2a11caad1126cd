// The app part of `rkt run`/`rkt prepare`: `IMAGE [app flags] [-- ARGS] [--- IMAGE ...]`.
// Per-app flags given before the first image apply to every app (rkt's grammar).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rkt {

struct AppFlags {
    std::optional<std::string> exec;
    std::optional<std::string> name;
    std::optional<std::string> user;
    std::optional<std::string> group;
    std::optional<std::string> supplementary_gids;
    std::optional<std::string> working_dir;
    std::optional<bool> readonly_rootfs;
    std::optional<std::string> memory;
    std::optional<std::string> cpu;
    std::optional<std::string> cpu_shares;
    std::optional<std::string> pids_limit;
    std::optional<std::string> caps_retain;
    std::optional<std::string> caps_remove;
    std::optional<std::string> seccomp;
    std::optional<std::string> oom_score_adj;
    std::optional<std::string> signature;
    std::vector<std::string> environment;       // --environment NAME=VALUE
    std::vector<std::string> mounts;            // --mount volume=V,target=P
    std::vector<std::string> annotations;       // --annotation NAME=VALUE
    std::vector<std::string> user_annotations;  // --user-annotation NAME=VALUE
    std::vector<std::string> user_labels;       // --user-label NAME=VALUE

    // Fills every unset field of *this from `defaults`.
    void inherit(const AppFlags& defaults);
    bool operator==(const AppFlags&) const = default;
};

struct AppRequest {
    std::string image;
    AppFlags flags;
    std::optional<std::vector<std::string>> args;  // after `--`; nullopt when not given
};

// Descriptions of the per-app flags, for --help and for the parser.
struct AppFlagSpec {
    const char* name;  // without the leading dashes
    const char* help;
    bool boolean = false;
    bool repeatable = false;
};
const std::vector<AppFlagSpec>& app_flag_specs();

// Sets one per-app flag by name; throws for an unknown flag or a bad value.
void set_app_flag(AppFlags& flags, const std::string& name, const std::string& value);

// Parses the arguments that follow the pod-level flags. `defaults` holds per-app flags given
// before the first image.
std::vector<AppRequest> parse_app_args(const std::vector<std::string>& args,
                                       const AppFlags& defaults);

}  // namespace rkt
