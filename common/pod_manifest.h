// The appc-compatible PodManifest that stage0 writes to <pod>/pod and every stage1 reads.
// Parsing is strict: a pod file is input to privileged code, so unknown shapes are errors.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt {

struct EnvVar {
    std::string name;
    std::string value;
    bool operator==(const EnvVar&) const = default;
};

// An environment variable name every input must give (flags, env files, pod manifests, image
// configs): 1-1024 printable ASCII characters, no '=' and no space. POSIX leaves the characters
// beyond letters, digits and '_' to the implementation; these are what an execve environment can
// carry without a name that reads as two variables or a line that breaks in two.
bool is_valid_env_name(std::string_view name);
// Throws "<where>: ..." naming a bad variable name (and what a valid one is) or a value holding
// a NUL byte, which no environment can carry.
void check_env_var(const EnvVar& var, std::string_view where);

// appc isolator: a name such as "resource/memory" and its JSON value.
struct Isolator {
    std::string name;
    nlohmann::json value;
};

struct MountPoint {  // declared by an image: where a volume may be mounted
    std::string name;
    std::string path;
    bool read_only = false;
};

struct PortSpec {  // declared by an image
    std::string name;
    std::string protocol = "tcp";
    uint16_t port = 0;
};

struct AppSpec {  // appc "app" section
    std::vector<std::string> exec;
    std::string user = "0";
    std::string group = "0";
    std::vector<uint32_t> supplementary_gids;
    std::string working_directory;
    std::vector<EnvVar> environment;
    std::vector<Isolator> isolators;
    std::vector<MountPoint> mount_points;
    std::vector<PortSpec> ports;
    // appc's free-form key/value pairs of the app (`--user-annotation`, `--user-label`).
    std::map<std::string, std::string> user_annotations;
    std::map<std::string, std::string> user_labels;

    const Isolator* find_isolator(const std::string& name) const;
    void set_isolator(const std::string& name, nlohmann::json value);
    // Sets or replaces an environment variable, keeping order.
    void set_env(const std::string& name, const std::string& value);
    const std::string* env(const std::string& name) const;
};

struct ImageRef {
    std::string name;  // e.g. "example.com/inspect:latest"
    std::string id;    // image id in the store, e.g. "sha256-<64 hex>"
};

struct AppMount {  // pod-level binding of a volume to a path in one app
    std::string volume;
    std::string path;
};

struct RuntimeApp {
    std::string name;
    ImageRef image;
    AppSpec app;
    std::vector<AppMount> mounts;
    bool read_only_rootfs = false;
    std::map<std::string, std::string> annotations;
};

struct Volume {
    std::string name;
    std::string kind;    // "host" or "empty"
    std::string source;  // host only
    bool read_only = false;
    bool recursive = false;
    std::string mode = "0755";  // empty only
    uint32_t uid = 0;
    uint32_t gid = 0;
};

// An empty volume's mode from its octal text (none given: rkt's 0755), at most 07777; a bad
// text is an error naming the volume, in the same words for every stage1.
uint32_t empty_volume_mode(const Volume& vol);

struct PodManifest {
    std::vector<RuntimeApp> apps;
    std::vector<Volume> volumes;
    std::vector<Isolator> isolators;
    std::map<std::string, std::string> annotations;

    const RuntimeApp* find_app(const std::string& name) const;
    const Volume* find_volume(const std::string& name) const;

    nlohmann::json to_json() const;
    std::string serialize(bool pretty = false) const;
    static PodManifest from_json(const nlohmann::json& j);
    // Parses the text of a pod file; errors say what is wrong and where.
    static PodManifest parse(const std::string& text);
};

nlohmann::json app_spec_to_json(const AppSpec& app);
AppSpec app_spec_from_json(const nlohmann::json& j);

}  // namespace rkt
