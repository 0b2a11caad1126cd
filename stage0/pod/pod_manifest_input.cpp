#include "stage0/pod/pod_manifest_input.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/isolation.h"
#include "common/strings.h"

namespace rkt {

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 32;           // deeper than any isolator value needs
constexpr size_t kMaxListItems = 1024;  // exec arguments, environment, mounts, gids, ...
constexpr size_t kMaxNameBytes = 4096;  // names, users, paths, label values

// ---- typed access to hostile JSON; `where` is the field's path, e.g. "apps[0].app.exec" ----

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw Error(where.empty() ? what : where + ": " + what);
}

std::string at(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : where + "." + std::string(key);
}

std::string at(const std::string& where, size_t index) {
    return where + "[" + std::to_string(index) + "]";
}

// The object's fields must all be known: a misspelt field would otherwise be silently ignored.
const json& object(const json& j, const std::string& where,
                   std::initializer_list<std::string_view> known) {
    if (!j.is_object()) fail(where, "must be a JSON object");
    for (const auto& [key, value] : j.items()) {
        bool ok = false;
        for (auto k : known) ok = ok || key == k;
        if (!ok) fail(where, "unknown field \"" + key + "\"");
    }
    return j;
}

const json* field(const json& obj, std::string_view key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string text(const json& j, const std::string& where, size_t max = kMaxNameBytes) {
    if (!j.is_string()) fail(where, "must be a string");
    const std::string& s = j.get_ref<const std::string&>();
    if (s.size() > max) fail(where, "is longer than " + std::to_string(max) + " bytes");
    if (s.find('\0') != std::string::npos) fail(where, "holds a NUL byte");
    return s;
}

std::string required_text(const json& obj, std::string_view key, const std::string& where,
                          size_t max = kMaxNameBytes) {
    const json* v = field(obj, key);
    if (!v) fail(where, "missing \"" + std::string(key) + "\"");
    return text(*v, at(where, key), max);
}

bool boolean(const json& j, const std::string& where) {
    if (!j.is_boolean()) fail(where, "must be true or false");
    return j.get<bool>();
}

uint64_t number(const json& j, const std::string& where, uint64_t max) {
    if (!j.is_number_unsigned() || j.get<uint64_t>() > max)
        fail(where, "must be a whole number from 0 to " + std::to_string(max));
    return j.get<uint64_t>();
}

const json& array(const json& j, const std::string& where, size_t max = kMaxListItems) {
    if (!j.is_array()) fail(where, "must be an array");
    if (j.size() > max) fail(where, "has more than " + std::to_string(max) + " entries");
    return j;
}

std::string absolute_path(const json& j, const std::string& where) {
    std::string s = text(j, where);
    if (s.empty() || s[0] != '/') fail(where, "\"" + s + "\" must be an absolute path");
    return s;
}

std::string ac_name(const json& j, const std::string& where) {
    std::string s = text(j, where);
    if (!strings::is_valid_acname(s))
        fail(where, "\"" + s + "\" is not a valid name: use lower-case letters, digits and dashes");
    return s;
}

// {"key": "value", ...}: appc's user annotations and labels.
std::map<std::string, std::string> string_map(const json& j, const std::string& where) {
    if (!j.is_object()) fail(where, "must be an object of strings");
    if (j.size() > kMaxListItems)
        fail(where, "has more than " + std::to_string(kMaxListItems) + " entries");
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : j.items()) {
        if (key.empty() || key.size() > kMaxNameBytes) fail(where, "has an empty or oversized key");
        out[key] = text(value, at(where, key), kMaxNameBytes);
    }
    return out;
}

// appc's acVersion is a semantic version below 1.0 (the spec never reached 1.0).
bool is_appc_version(const std::string& v) {
    size_t pos = 0;
    for (int part = 0; part < 3; ++part) {
        size_t start = pos;
        while (pos < v.size() && v[pos] >= '0' && v[pos] <= '9') ++pos;
        if (pos == start) return false;
        if (part == 0 && v.substr(start, pos - start) != "0") return false;
        if (part < 2) {
            if (pos >= v.size() || v[pos] != '.') return false;
            ++pos;
        }
    }
    return pos == v.size() || v[pos] == '-' || v[pos] == '+';
}

// [{"name": N, "value": V}] with unique names.
std::map<std::string, std::string> name_values(const json& j, const std::string& where) {
    std::map<std::string, std::string> out;
    const json& arr = array(j, where);
    for (size_t i = 0; i < arr.size(); ++i) {
        std::string w = at(where, i);
        const json& nv = object(arr[i], w, {"name", "value"});
        std::string name = required_text(nv, "name", w);
        if (name.empty()) fail(at(w, "name"), "must not be empty");
        std::string value = required_text(nv, "value", w, kMaxPodManifestBytes);
        if (!out.emplace(name, value).second) fail(w, "\"" + name + "\" is given twice");
    }
    return out;
}

// ---- the parts of a runtime app ----

ManifestImageRef parse_image(const json& j, const std::string& where) {
    const json& img = object(j, where, {"name", "id", "labels"});
    ManifestImageRef ref;
    if (const json* id = field(img, "id")) {
        ref.id = text(*id, at(where, "id"));
        std::string_view hex = ref.id;
        bool ok = hex.starts_with("sha256-");
        if (ok) hex.remove_prefix(7);
        ok = ok && hex.size() >= 6 && hex.size() <= 64 &&
             hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
        if (!ok)
            fail(at(where, "id"), "\"" + ref.id +
                                      "\" is not a store image id: sha256-<at least 6 hex "
                                      "digits> (see `rkt image list --full`)");
    }
    if (const json* name = field(img, "name")) {
        ref.name = text(*name, at(where, "name"));
        if (ref.name.empty() || ref.name.find_first_of(" \t\n\r@") != std::string::npos)
            fail(at(where, "name"), "\"" + ref.name + "\" is not an image name");
    }
    if (ref.id.empty() && ref.name.empty()) fail(where, "give the image's \"id\" or \"name\"");
    if (const json* labels = field(img, "labels")) {
        ref.labels = name_values(*labels, at(where, "labels"));
        for (const auto& [name, value] : ref.labels) {
            if (name != "version" && name != "os" && name != "arch")
                fail(at(where, "labels"), "label \"" + name +
                                              "\" cannot be matched against the store (only "
                                              "version, os and arch)");
            if (value.empty()) fail(at(where, "labels"), "label \"" + name + "\" is empty");
        }
    }
    size_t slash = ref.name.rfind('/');
    size_t colon = ref.name.rfind(':');
    bool name_has_tag = colon != std::string::npos && (slash == std::string::npos || colon > slash);
    if (name_has_tag && ref.labels.count("version"))
        fail(where, "give the version either in the name or as a label, not both");
    return ref;
}

void parse_app_section(const json& j, const std::string& where, AppIntent& a) {
    const json& app = object(
        j, where,
        {"exec", "user", "group", "supplementaryGIDs", "workingDirectory", "environment",
         "isolators", "mountPoints", "ports", "eventHandlers", "userAnnotations", "userLabels"});
    if (const json* exec = field(app, "exec")) {
        std::string w = at(where, "exec");
        const json& arr = array(*exec, w);
        if (arr.empty()) fail(w, "must not be empty (leave it out to use the image's command)");
        a.exec = absolute_path(arr[0], at(w, size_t{0}));
        a.args.emplace();
        for (size_t i = 1; i < arr.size(); ++i)
            a.args->push_back(text(arr[i], at(w, i), kMaxPodManifestBytes));
    }
    for (const char* key : {"user", "group"}) {
        if (const json* v = field(app, key)) {
            std::string s = text(*v, at(where, key));
            if (s.empty()) fail(at(where, key), "must not be empty");
            (std::string_view(key) == "user" ? a.user : a.group) = s;
        }
    }
    if (const json* gids = field(app, "supplementaryGIDs")) {
        std::string w = at(where, "supplementaryGIDs");
        const json& arr = array(*gids, w);
        for (size_t i = 0; i < arr.size(); ++i)
            a.supplementary_gids.push_back(
                static_cast<uint32_t>(number(arr[i], at(w, i), UINT32_MAX)));
    }
    if (const json* wd = field(app, "workingDirectory"))
        a.working_dir = absolute_path(*wd, at(where, "workingDirectory"));
    if (const json* env = field(app, "environment")) {
        std::string w = at(where, "environment");
        const json& arr = array(*env, w);
        std::set<std::string> seen;
        for (size_t i = 0; i < arr.size(); ++i) {
            std::string wi = at(w, i);
            const json& e = object(arr[i], wi, {"name", "value"});
            EnvVar var{required_text(e, "name", wi),
                       required_text(e, "value", wi, kMaxPodManifestBytes)};
            if (var.name.empty() || var.name.find('=') != std::string::npos)
                fail(at(wi, "name"), "\"" + var.name + "\" is not a variable name");
            if (!seen.insert(var.name).second) fail(wi, "\"" + var.name + "\" is set twice");
            a.environment.push_back(std::move(var));
        }
    }
    if (const json* v = field(app, "userAnnotations"))
        a.user_annotations = string_map(*v, at(where, "userAnnotations"));
    if (const json* v = field(app, "userLabels"))
        a.user_labels = string_map(*v, at(where, "userLabels"));
    if (const json* isolators = field(app, "isolators")) {
        std::string w = at(where, "isolators");
        const json& arr = array(*isolators, w);
        static const std::set<std::string_view> known = {
            isolation::kCapsRetainIsolator,    isolation::kCapsRemoveIsolator,
            isolation::kSeccompRetainIsolator, isolation::kSeccompRemoveIsolator,
            isolation::kNoNewPrivsIsolator,    isolation::kOomScoreAdjIsolator,
            isolation::kMemoryIsolator,        isolation::kCpuIsolator,
            isolation::kCpuSharesIsolator,     isolation::kCpuSharesAltIsolator,
            isolation::kPidsIsolator};
        for (size_t i = 0; i < arr.size(); ++i) {
            std::string wi = at(w, i);
            const json& iso = object(arr[i], wi, {"name", "value"});
            std::string name = required_text(iso, "name", wi);
            if (!known.count(name))
                fail(at(wi, "name"),
                     "isolator \"" + name + "\" is not supported (see docs/isolation.md)");
            for (const auto& other : a.isolators)
                if (other.name == name) fail(wi, "isolator \"" + name + "\" is given twice");
            const json* value = field(iso, "value");
            if (!value) fail(wi, "missing \"value\"");
            a.isolators.push_back({name, *value});
        }
    }
    if (const json* mps = field(app, "mountPoints")) {
        std::string w = at(where, "mountPoints");
        const json& arr = array(*mps, w);
        for (size_t i = 0; i < arr.size(); ++i) {
            std::string wi = at(w, i);
            const json& m = object(arr[i], wi, {"name", "path", "readOnly"});
            const json* name = field(m, "name");
            const json* path = field(m, "path");
            if (!name || !path) fail(wi, "needs \"name\" and \"path\"");
            MountPoint mp{ac_name(*name, at(wi, "name")), absolute_path(*path, at(wi, "path"))};
            if (const json* ro = field(m, "readOnly"))
                mp.read_only = boolean(*ro, at(wi, "readOnly"));
            a.mount_points.push_back(std::move(mp));
        }
    }
    if (const json* ports = field(app, "ports")) {
        std::string w = at(where, "ports");
        const json& arr = array(*ports, w);
        for (size_t i = 0; i < arr.size(); ++i) {
            std::string wi = at(w, i);
            const json& p =
                object(arr[i], wi, {"name", "protocol", "port", "count", "socketActivated"});
            const json* name = field(p, "name");
            const json* port = field(p, "port");
            if (!name || !port) fail(wi, "needs \"name\" and \"port\"");
            PortSpec ps;
            ps.name = ac_name(*name, at(wi, "name"));
            ps.port = static_cast<uint16_t>(number(*port, at(wi, "port"), 65535));
            if (const json* proto = field(p, "protocol"))
                ps.protocol = text(*proto, at(wi, "protocol"));
            if (ps.protocol != "tcp" && ps.protocol != "udp")
                fail(at(wi, "protocol"), "must be tcp or udp");
            if (const json* count = field(p, "count");
                count && number(*count, at(wi, "count"), 1) != 1)
                fail(at(wi, "count"), "only 1 is supported");
            if (const json* sa = field(p, "socketActivated");
                sa && boolean(*sa, at(wi, "socketActivated")))
                fail(at(wi, "socketActivated"), "socket activation is not supported");
            a.ports.push_back(std::move(ps));
        }
    }
    if (const json* handlers = field(app, "eventHandlers");
        handlers && !array(*handlers, at(where, "eventHandlers")).empty())
        fail(at(where, "eventHandlers"), "event handlers are not supported");
}

std::vector<Volume> parse_volumes(const json& j) {
    std::vector<Volume> out;
    const json& arr = array(j, "volumes", 256);
    for (size_t i = 0; i < arr.size(); ++i) {
        std::string w = at("volumes", i);
        const json& jv = object(
            arr[i], w, {"name", "kind", "source", "readOnly", "recursive", "mode", "uid", "gid"});
        Volume v;
        v.name = required_text(jv, "name", w);
        v.kind = required_text(jv, "kind", w);
        if (const json* s = field(jv, "source")) v.source = text(*s, at(w, "source"));
        if (const json* b = field(jv, "readOnly")) v.read_only = boolean(*b, at(w, "readOnly"));
        if (const json* b = field(jv, "recursive")) v.recursive = boolean(*b, at(w, "recursive"));
        if (const json* m = field(jv, "mode")) v.mode = text(*m, at(w, "mode"));
        if (const json* n = field(jv, "uid"))
            v.uid = static_cast<uint32_t>(number(*n, at(w, "uid"), UINT32_MAX));
        if (const json* n = field(jv, "gid"))
            v.gid = static_cast<uint32_t>(number(*n, at(w, "gid"), UINT32_MAX));
        check_volume(v, w);
        for (const auto& other : out)
            if (other.name == v.name) fail(w, "volume \"" + v.name + "\" is defined twice");
        out.push_back(std::move(v));
    }
    return out;
}

json parse_json(const std::string& text) {
    // The depth cap keeps a hostile file from costing more than its size.
    auto limit_depth = [](int depth, json::parse_event_t, json&) {
        if (depth > kMaxDepth)
            throw Error("nested deeper than " + std::to_string(kMaxDepth) + " levels");
        return true;
    };
    try {
        return json::parse(text, limit_depth);
    } catch (const json::exception& e) {
        std::string why = e.what();
        if (auto close = why.find("] ");
            why.starts_with("[json.exception") && close != std::string::npos)
            why = why.substr(close + 2);
        throw Error("not valid JSON: " + why);
    }
}

}  // namespace

std::string ManifestImageRef::describe() const {
    if (!id.empty()) return id;
    auto version = labels.find("version");
    return version == labels.end() ? name : name + ":" + version->second;
}

PodManifestInput parse_pod_manifest_input(const std::string& input) {
    if (input.size() > kMaxPodManifestBytes)
        throw Error("larger than the limit of " + std::to_string(kMaxPodManifestBytes) + " bytes");
    json j = parse_json(input);
    const json& pod = object(
        j, "", {"acKind", "acVersion", "apps", "volumes", "isolators", "annotations", "ports"});
    if (required_text(pod, "acKind", "") != "PodManifest")
        fail("acKind", "must be \"PodManifest\"");
    std::string version = required_text(pod, "acVersion", "");
    if (!is_appc_version(version))
        fail("acVersion", "\"" + version + "\" is not an appc version (e.g. 0.8.11)");

    PodManifestInput out;
    PodIntent& intent = out.intent;
    intent.exec_hint = "give one in the app's \"exec\" in the pod manifest";
    if (const json* vols = field(pod, "volumes")) intent.volumes = parse_volumes(*vols);
    if (const json* isolators = field(pod, "isolators");
        isolators && !array(*isolators, "isolators").empty())
        fail("isolators", "pod-level isolators are not supported; give them to each app");
    if (const json* ports = field(pod, "ports"); ports && !array(*ports, "ports").empty())
        fail("ports", "port forwarding is not supported with --pod-manifest yet");
    if (const json* ann = field(pod, "annotations"))
        intent.annotations = name_values(*ann, "annotations");

    const json* apps = field(pod, "apps");
    if (!apps) fail("", "missing \"apps\"");
    const json& arr = array(*apps, "apps", kMaxPodManifestApps);
    if (arr.empty()) fail("apps", "must name at least one app");
    std::set<std::string> names;
    for (size_t i = 0; i < arr.size(); ++i) {
        std::string w = at("apps", i);
        const json& ja =
            object(arr[i], w, {"name", "image", "app", "readOnlyRootFS", "mounts", "annotations"});
        const json* name = field(ja, "name");
        if (!name) fail(w, "missing \"name\"");
        AppIntent a;
        a.name = ac_name(*name, at(w, "name"));
        if (!names.insert(*a.name).second)
            fail(at(w, "name"), "app name \"" + *a.name + "\" is used twice");
        const json* image = field(ja, "image");
        if (!image) fail(w, "missing \"image\"");
        ManifestImageRef ref = parse_image(*image, at(w, "image"));
        a.image = ref.describe();
        if (const json* app = field(ja, "app")) parse_app_section(*app, at(w, "app"), a);
        if (const json* ro = field(ja, "readOnlyRootFS"))
            a.read_only_rootfs = boolean(*ro, at(w, "readOnlyRootFS"));
        if (const json* mounts = field(ja, "mounts")) {
            const json& marr = array(*mounts, at(w, "mounts"));
            for (size_t m = 0; m < marr.size(); ++m) {
                std::string wm = at(at(w, "mounts"), m);
                const json& jm = object(marr[m], wm, {"volume", "path"});
                AppMount mount{required_text(jm, "volume", wm), required_text(jm, "path", wm)};
                bool defined = false;
                for (const auto& v : intent.volumes) defined = defined || v.name == mount.volume;
                if (!defined)
                    fail(wm, "volume \"" + mount.volume + "\" is not defined in \"volumes\"");
                mount.path = with_context(at(wm, "path"),
                                          [&] { return normalize_mount_target(mount.path); });
                a.mounts.push_back(std::move(mount));
            }
        }
        if (const json* ann = field(ja, "annotations"))
            a.annotations = name_values(*ann, at(w, "annotations"));
        intent.apps.push_back(std::move(a));
        out.images.push_back(std::move(ref));
    }
    return out;
}

PodManifestInput read_pod_manifest_input(const std::filesystem::path& file) {
    return with_context("pod manifest " + file.string(), [&] {
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0) throw system_error("cannot read it");
        if (!S_ISREG(st.st_mode)) throw Error("not a regular file");
        if (static_cast<uint64_t>(st.st_size) > kMaxPodManifestBytes)
            throw Error("larger than the limit of " + std::to_string(kMaxPodManifestBytes) +
                        " bytes");
        return parse_pod_manifest_input(fs::read_file_limited(file, kMaxPodManifestBytes));
    });
}

namespace {

void check_platform_labels(const store::ImageInfo& info, const ManifestImageRef& ref,
                           const std::string& app_name) {
    auto check = [&](const char* label, const std::string& actual) {
        auto it = ref.labels.find(label);
        if (it != ref.labels.end() && it->second != actual)
            throw Error("app " + app_name + ": image " + ref.describe() + " is for " + label + " " +
                        actual + ", not " + it->second);
    };
    check("os", info.config.os);
    check("arch", info.config.architecture);
}

}  // namespace

store::ImageInfo find_manifest_image(const store::ImageStore& images, const ManifestImageRef& ref,
                                     const std::string& app_name) {
    auto not_found = [&] {
        return Error("app " + app_name + ": image \"" + ref.describe() +
                     "\" is not in the store; fetch it first with `rkt fetch IMAGE` (see `rkt "
                     "image list`)");
    };
    if (!ref.id.empty()) {
        auto info = with_context("app " + app_name, [&] { return images.resolve(ref.id); });
        if (!info) throw not_found();
        check_platform_labels(*info, ref, app_name);
        return *info;
    }
    // By name: the tag comes from the name, else the version label, else "latest".
    std::vector<std::string> wanted;
    size_t slash = ref.name.rfind('/');
    size_t colon = ref.name.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
        wanted.push_back(ref.name);
    } else if (auto v = ref.labels.find("version"); v != ref.labels.end()) {
        wanted.push_back(ref.name + ":" + v->second);
    } else {
        wanted.push_back(ref.name + ":latest");
        wanted.push_back(ref.name);  // an image stored without a tag
    }
    const std::vector<store::ImageInfo> stored = images.list();
    for (const std::string& want : wanted) {
        for (const store::ImageInfo& info : stored) {
            for (const std::string& n : info.names) {
                if (n == want) {
                    check_platform_labels(info, ref, app_name);
                    return info;
                }
            }
        }
    }
    throw not_found();
}

}  // namespace rkt
