#include "common/pod_manifest.h"

#include "common/error.h"
#include "common/strings.h"

namespace rkt {

using nlohmann::json;

namespace {

const json& require(const json& j, const char* key, const char* where) {
    auto it = j.find(key);
    if (it == j.end()) throw Error(std::string(where) + ": missing \"" + key + "\"");
    return *it;
}

std::string get_string(const json& j, const char* key, const char* where,
                       std::optional<std::string> fallback = std::nullopt) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (fallback) return *fallback;
        throw Error(std::string(where) + ": missing \"" + key + "\"");
    }
    if (!it->is_string()) throw Error(std::string(where) + ": \"" + key + "\" must be a string");
    return it->get<std::string>();
}

bool get_bool(const json& j, const char* key, const char* where, bool fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw Error(std::string(where) + ": \"" + key + "\" must be a boolean");
    return it->get<bool>();
}

// A user or group id: a whole number that fits in 32 bits (a float, a negative number or a
// string is an error, not something a conversion quietly turns into another id).
uint32_t get_id(const json& j, const char* key, const char* where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return 0;
    if (!it->is_number_unsigned() || it->get<uint64_t>() > UINT32_MAX)
        throw Error(std::string(where) + ": \"" + key + "\" must be a number from 0 to " +
                    std::to_string(UINT32_MAX));
    return static_cast<uint32_t>(it->get<uint64_t>());
}

const json* get_array(const json& j, const char* key, const char* where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return nullptr;
    if (!it->is_array()) throw Error(std::string(where) + ": \"" + key + "\" must be an array");
    return &*it;
}

std::map<std::string, std::string> annotations_from(const json& j, const char* where) {
    std::map<std::string, std::string> out;
    if (const json* arr = get_array(j, "annotations", where)) {
        for (const auto& a : *arr)
            out[get_string(a, "name", where)] = get_string(a, "value", where);
    }
    return out;
}

// appc's user annotations and labels: a JSON object of strings.
std::map<std::string, std::string> string_map_from(const json& j, const char* key,
                                                   const char* where) {
    std::map<std::string, std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_object()) throw Error(std::string(where) + ": \"" + key + "\" must be an object");
    for (const auto& [k, v] : it->items()) {
        if (!v.is_string())
            throw Error(std::string(where) + ": \"" + key + "\" values must be strings");
        out[k] = v.get<std::string>();
    }
    return out;
}

json annotations_to(const std::map<std::string, std::string>& m) {
    json arr = json::array();
    for (const auto& [k, v] : m) arr.push_back({{"name", k}, {"value", v}});
    return arr;
}

std::vector<Isolator> isolators_from(const json& j, const char* where) {
    std::vector<Isolator> out;
    if (const json* arr = get_array(j, "isolators", where)) {
        for (const auto& i : *arr) {
            out.push_back({get_string(i, "name", where), i.value("value", json::object())});
        }
    }
    return out;
}

json isolators_to(const std::vector<Isolator>& isolators) {
    json arr = json::array();
    for (const auto& i : isolators) arr.push_back({{"name", i.name}, {"value", i.value}});
    return arr;
}

}  // namespace

bool is_valid_env_name(std::string_view name) {
    if (name.empty() || name.size() > 1024) return false;
    for (char c : name)
        if (c <= ' ' || c >= 0x7f || c == '=') return false;
    return true;
}

void check_env_var(const EnvVar& var, std::string_view where) {
    if (!is_valid_env_name(var.name))
        throw Error(std::string(where) + ": \"" + strings::printable(var.name, 80) +
                    "\" is not a variable name: an environment variable name is 1-1024 "
                    "printable ASCII characters other than '=' and space, e.g. MY_VAR");
    if (var.value.find('\0') != std::string::npos)
        throw Error(std::string(where) + ": the value of " + var.name + " holds a NUL byte");
}

const Isolator* AppSpec::find_isolator(const std::string& name) const {
    for (const auto& i : isolators)
        if (i.name == name) return &i;
    return nullptr;
}

void AppSpec::set_isolator(const std::string& name, nlohmann::json value) {
    for (auto& i : isolators) {
        if (i.name == name) {
            i.value = std::move(value);
            return;
        }
    }
    isolators.push_back({name, std::move(value)});
}

void AppSpec::set_env(const std::string& name, const std::string& value) {
    for (auto& e : environment) {
        if (e.name == name) {
            e.value = value;
            return;
        }
    }
    environment.push_back({name, value});
}

const std::string* AppSpec::env(const std::string& name) const {
    for (const auto& e : environment)
        if (e.name == name) return &e.value;
    return nullptr;
}

json app_spec_to_json(const AppSpec& app) {
    json j;
    j["exec"] = app.exec;
    j["user"] = app.user;
    j["group"] = app.group;
    if (!app.supplementary_gids.empty()) j["supplementaryGIDs"] = app.supplementary_gids;
    if (!app.working_directory.empty()) j["workingDirectory"] = app.working_directory;
    json env = json::array();
    for (const auto& e : app.environment) env.push_back({{"name", e.name}, {"value", e.value}});
    j["environment"] = env;
    if (!app.isolators.empty()) j["isolators"] = isolators_to(app.isolators);
    if (!app.mount_points.empty()) {
        json mps = json::array();
        for (const auto& m : app.mount_points)
            mps.push_back({{"name", m.name}, {"path", m.path}, {"readOnly", m.read_only}});
        j["mountPoints"] = mps;
    }
    if (!app.ports.empty()) {
        json ports = json::array();
        for (const auto& p : app.ports)
            ports.push_back({{"name", p.name}, {"protocol", p.protocol}, {"port", p.port}});
        j["ports"] = ports;
    }
    if (!app.user_annotations.empty()) j["userAnnotations"] = app.user_annotations;
    if (!app.user_labels.empty()) j["userLabels"] = app.user_labels;
    return j;
}

AppSpec app_spec_from_json(const json& j) {
    constexpr const char* where = "app";
    if (!j.is_object()) throw Error("app: must be an object");
    AppSpec app;
    if (const json* exec = get_array(j, "exec", where)) {
        for (const auto& a : *exec) {
            if (!a.is_string()) throw Error("app: \"exec\" must hold strings");
            app.exec.push_back(a.get<std::string>());
        }
    }
    app.user = get_string(j, "user", where, "0");
    app.group = get_string(j, "group", where, "0");
    if (const json* gids = get_array(j, "supplementaryGIDs", where)) {
        for (const auto& g : *gids) {
            if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX)
                throw Error("app: supplementaryGIDs must be numbers from 0 to " +
                            std::to_string(UINT32_MAX));
            app.supplementary_gids.push_back(static_cast<uint32_t>(g.get<uint64_t>()));
        }
    }
    app.working_directory = get_string(j, "workingDirectory", where, "");
    if (const json* env = get_array(j, "environment", where)) {
        for (const auto& e : *env) {
            EnvVar var{get_string(e, "name", where), get_string(e, "value", where)};
            check_env_var(var, "app: environment");
            app.environment.push_back(std::move(var));
        }
    }
    app.isolators = isolators_from(j, where);
    if (const json* mps = get_array(j, "mountPoints", where)) {
        for (const auto& m : *mps)
            app.mount_points.push_back({get_string(m, "name", where), get_string(m, "path", where),
                                        get_bool(m, "readOnly", where, false)});
    }
    if (const json* ports = get_array(j, "ports", where)) {
        for (const auto& p : *ports) {
            PortSpec ps;
            ps.name = get_string(p, "name", where);
            ps.protocol = get_string(p, "protocol", where, "tcp");
            const json& port = require(p, "port", where);
            if (!port.is_number_unsigned() || port.get<uint64_t>() > 65535)
                throw Error("app: port must be a number from 0 to 65535");
            ps.port = port.get<uint16_t>();
            app.ports.push_back(ps);
        }
    }
    app.user_annotations = string_map_from(j, "userAnnotations", where);
    app.user_labels = string_map_from(j, "userLabels", where);
    return app;
}

const RuntimeApp* PodManifest::find_app(const std::string& name) const {
    for (const auto& a : apps)
        if (a.name == name) return &a;
    return nullptr;
}

const Volume* PodManifest::find_volume(const std::string& name) const {
    for (const auto& v : volumes)
        if (v.name == name) return &v;
    return nullptr;
}

json PodManifest::to_json() const {
    json j;
    j["acVersion"] = "0.8.11";
    j["acKind"] = "PodManifest";
    json japps = json::array();
    for (const auto& a : apps) {
        json ja;
        ja["name"] = a.name;
        ja["image"] = {{"name", a.image.name}, {"id", a.image.id}};
        ja["app"] = app_spec_to_json(a.app);
        json mounts = json::array();
        for (const auto& m : a.mounts) mounts.push_back({{"volume", m.volume}, {"path", m.path}});
        ja["mounts"] = mounts;
        if (a.read_only_rootfs) ja["readOnlyRootFS"] = true;
        ja["annotations"] = annotations_to(a.annotations);
        japps.push_back(ja);
    }
    j["apps"] = japps;
    json vols = json::array();
    for (const auto& v : volumes) {
        json jv = {{"name", v.name}, {"kind", v.kind}};
        if (v.kind == "host") {
            jv["source"] = v.source;
            jv["readOnly"] = v.read_only;
            jv["recursive"] = v.recursive;
        } else {
            jv["readOnly"] = v.read_only;
            jv["mode"] = v.mode;
            jv["uid"] = v.uid;
            jv["gid"] = v.gid;
        }
        vols.push_back(jv);
    }
    j["volumes"] = vols;
    j["isolators"] = isolators_to(isolators);
    j["annotations"] = annotations_to(annotations);
    j["ports"] = json::array();
    return j;
}

std::string PodManifest::serialize(bool pretty) const {
    return pretty ? to_json().dump(4) : to_json().dump();
}

PodManifest PodManifest::from_json(const json& j) {
    if (!j.is_object()) throw Error("pod manifest: must be a JSON object");
    if (get_string(j, "acKind", "pod manifest") != "PodManifest")
        throw Error("pod manifest: acKind must be \"PodManifest\"");
    PodManifest pm;
    if (const json* apps = get_array(j, "apps", "pod manifest")) {
        for (const auto& ja : *apps) {
            RuntimeApp a;
            a.name = get_string(ja, "name", "pod manifest app");
            if (!strings::is_valid_acname(a.name))
                throw Error("pod manifest: invalid app name \"" + a.name + "\"");
            const json& img = require(ja, "image", "pod manifest app");
            a.image.name = get_string(img, "name", "app image", "");
            a.image.id = get_string(img, "id", "app image");
            a.app = app_spec_from_json(ja.value("app", json::object()));
            if (const json* mounts = get_array(ja, "mounts", "app")) {
                for (const auto& m : *mounts)
                    a.mounts.push_back(
                        {get_string(m, "volume", "mount"), get_string(m, "path", "mount")});
            }
            a.read_only_rootfs = get_bool(ja, "readOnlyRootFS", "app", false);
            a.annotations = annotations_from(ja, "app");
            if (pm.find_app(a.name))
                throw Error("pod manifest: duplicate app name \"" + a.name + "\"");
            pm.apps.push_back(std::move(a));
        }
    }
    if (const json* vols = get_array(j, "volumes", "pod manifest")) {
        for (const auto& jv : *vols) {
            Volume v;
            v.name = get_string(jv, "name", "volume");
            v.kind = get_string(jv, "kind", "volume");
            if (v.kind != "host" && v.kind != "empty")
                throw Error("volume " + v.name + ": kind must be \"host\" or \"empty\"");
            v.source = get_string(jv, "source", "volume", "");
            v.read_only = get_bool(jv, "readOnly", "volume", false);
            v.recursive = get_bool(jv, "recursive", "volume", false);
            v.mode = get_string(jv, "mode", "volume", "0755");
            v.uid = get_id(jv, "uid", "volume");
            v.gid = get_id(jv, "gid", "volume");
            pm.volumes.push_back(std::move(v));
        }
    }
    pm.isolators = isolators_from(j, "pod manifest");
    pm.annotations = annotations_from(j, "pod manifest");
    return pm;
}

PodManifest PodManifest::parse(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) throw Error("pod manifest is not valid JSON");
    return from_json(j);
}

uint32_t empty_volume_mode(const Volume& vol) {
    constexpr uint32_t kMaxMode = 07777;
    if (vol.mode.empty()) return 0755;
    uint32_t mode = 0;
    for (char c : vol.mode) {
        if (c < '0' || c > '7' || mode > kMaxMode)
            throw Error("volume \"" + vol.name + "\": mode \"" + vol.mode +
                        "\" is not an octal mode such as 0755");
        mode = mode * 8 + static_cast<uint32_t>(c - '0');
    }
    if (mode > kMaxMode)
        throw Error("volume \"" + vol.name + "\": mode \"" + vol.mode + "\" is too large");
    return mode;
}

}  // namespace rkt
