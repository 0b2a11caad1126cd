#include "common/guest_protocol.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::guest {

using nlohmann::json;

namespace {

constexpr char kMagic[4] = {'R', 'K', 'T', 'G'};
constexpr uint32_t kMaxStopGraceMs = 3600 * 1000;
constexpr size_t kMaxSupplementaryGids = 256;
constexpr int kMaxSignal = 64;
constexpr size_t kMaxSyscalls = 1024;
constexpr uint32_t kMaxExecId = INT32_MAX;

// ---- little-endian helpers ----

void put_u16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
}
void put_u32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t get_u16(const char* p) {
    return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                                 (static_cast<uint16_t>(static_cast<uint8_t>(p[1])) << 8));
}
uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    return v;
}

// ---- strict JSON object access ----

std::string_view json_type_name(const json& j) {
    if (j.is_boolean()) return "a boolean";
    if (j.is_number_integer()) return "an integer";
    if (j.is_number()) return "a number";
    if (j.is_string()) return "a string";
    if (j.is_array()) return "an array";
    if (j.is_object()) return "an object";
    return "null";
}

// Reads the fields of one JSON object; every key must be consumed (finish()) so that a typo or
// a field from a newer peer is an error, not silently ignored.
class Fields {
public:
    Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {
        if (!j_.is_object()) fail("must be an object, not " + std::string(json_type_name(j_)));
    }

    bool has(const std::string& key) const { return j_.contains(key); }

    const json& raw(const std::string& key) {
        auto it = j_.find(key);
        if (it == j_.end()) fail("missing field \"" + key + "\"");
        seen_.insert(key);
        return *it;
    }

    std::string string(const std::string& key) {
        const json& v = raw(key);
        if (!v.is_string()) wrong_type(key, "a string", v);
        return v.get<std::string>();
    }
    std::string string_or(const std::string& key, std::string fallback) {
        return has(key) ? string(key) : std::move(fallback);
    }
    bool boolean(const std::string& key) {
        const json& v = raw(key);
        if (!v.is_boolean()) wrong_type(key, "a boolean", v);
        return v.get<bool>();
    }
    bool boolean_or(const std::string& key, bool fallback) {
        return has(key) ? boolean(key) : fallback;
    }
    int64_t integer(const std::string& key, int64_t min, int64_t max) {
        return checked_integer(raw(key), key, min, max);
    }
    int64_t integer_or(const std::string& key, int64_t min, int64_t max, int64_t fallback) {
        return has(key) ? integer(key, min, max) : fallback;
    }
    uint64_t unsigned64(const std::string& key) {
        const json& v = raw(key);
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
            wrong_type(key, "a non-negative integer", v);
        return v.get<uint64_t>();
    }
    std::vector<std::string> strings(const std::string& key) {
        const json& v = raw(key);
        if (!v.is_array()) wrong_type(key, "an array of strings", v);
        std::vector<std::string> out;
        for (const auto& e : v) {
            if (!e.is_string()) wrong_type(key, "an array of strings", e);
            out.push_back(e.get<std::string>());
        }
        return out;
    }
    std::vector<std::string> strings_or_empty(const std::string& key) {
        return has(key) ? strings(key) : std::vector<std::string>{};
    }
    const json& array(const std::string& key) {
        const json& v = raw(key);
        if (!v.is_array()) wrong_type(key, "an array", v);
        return v;
    }

    int64_t checked_integer(const json& v, const std::string& key, int64_t min, int64_t max) {
        if (!v.is_number_integer()) wrong_type(key, "an integer", v);
        // Unsigned values above INT64_MAX do not fit: out of range for every field here.
        if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
            fail("\"" + key + "\" is out of range");
        int64_t x = v.get<int64_t>();
        if (x < min || x > max)
            fail("\"" + key + "\" is " + std::to_string(x) + ", expected " + std::to_string(min) +
                 ".." + std::to_string(max));
        return x;
    }

    void finish() {
        for (auto it = j_.begin(); it != j_.end(); ++it) {
            if (!seen_.count(it.key())) fail("unknown field \"" + it.key() + "\"");
        }
    }

    const std::string& where() const { return where_; }

    [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": " + what); }

private:
    [[noreturn]] void wrong_type(const std::string& key, std::string_view expected,
                                 const json& got) const {
        fail("\"" + key + "\" must be " + std::string(expected) + ", not " +
             std::string(json_type_name(got)));
    }

    const json& j_;
    std::string where_;
    std::set<std::string> seen_;
};

// ---- value rules (shared by validation on both sides) ----

[[noreturn]] void invalid(const std::string& where, const std::string& what) {
    throw Error(where + ": " + what);
}

bool has_nul(std::string_view s) {
    return s.find('\0') != std::string_view::npos;
}

// Printable ASCII without spaces: what may go into one token of /etc/hosts or resolv.conf.
bool is_token(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool is_hostname(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (const auto& label : strings::split(s, '.')) {
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) return false;
        }
    }
    return true;
}

// "CAP_CHOWN", or "CAP_41" for a number without a name (as common/isolation prints them).
bool is_capability_name(std::string_view s) {
    if (s.size() < 5 || s.size() > 64 || s.substr(0, 4) != "CAP_") return false;
    return std::all_of(s.begin() + 4, s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// appc's user/group: a decimal id, a user or group name, or an absolute path.
bool is_user_or_group(std::string_view s) {
    if (s.empty() || s.size() > 4096 || has_nul(s)) return false;
    if (s.front() == '/') return true;
    if (s.size() > 256) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == '$';
    });
}

bool is_syscall_name(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

void check_absolute_path(const std::string& where, const std::string& path) {
    if (path.empty() || path.front() != '/') invalid(where, "must be an absolute path");
    if (has_nul(path)) invalid(where, "contains a NUL byte");
    if (path.size() > 4096) invalid(where, "is longer than 4096 bytes");
}

void validate_app(const GuestApp& app, const std::set<std::string>& volume_names) {
    if (!strings::is_valid_acname(app.name))
        invalid("app \"" + app.name + "\"",
                "name must be lower-case letters, digits and dashes (an ACName)");
    const std::string where = "app " + app.name;
    if (app.exec.empty() || app.exec.front().empty())
        invalid(where, "exec must name a program (it is empty)");
    for (const auto& arg : app.exec)
        if (has_nul(arg)) invalid(where, "an exec argument contains a NUL byte");
    for (const auto& e : app.env) {
        auto eq = e.find('=');
        if (eq == std::string::npos || eq == 0)
            invalid(where, "environment entry \"" + e.substr(0, 64) + "\" is not NAME=value");
        if (has_nul(e)) invalid(where, "an environment entry contains a NUL byte");
    }
    if (!is_user_or_group(app.user))
        invalid(where, "user must be a number, a name or an absolute path");
    if (!is_user_or_group(app.group))
        invalid(where, "group must be a number, a name or an absolute path");
    if (app.supplementary_gids.size() > kMaxSupplementaryGids)
        invalid(where,
                "more than " + std::to_string(kMaxSupplementaryGids) + " supplementary groups");
    for (uint32_t g : app.supplementary_gids)
        if (g == UINT32_MAX) invalid(where, "supplementary gid 4294967295 is not a valid group");
    check_absolute_path(where + ": working_dir", app.working_dir);
    if (app.disk > kMaxDiskIndex)
        invalid(where, "disk index " + std::to_string(app.disk) + " is above " +
                           std::to_string(kMaxDiskIndex));
    if (!app.disk_serial.empty() && (app.disk_serial.size() > 20 || !is_token(app.disk_serial)))
        invalid(where, "disk_serial must be 1..20 printable characters without spaces");
    if (const auto& caps = app.isolation.capabilities) {
        for (const auto& c : *caps)
            if (!is_capability_name(c))
                invalid(where, "\"" + c.substr(0, 64) + "\" is not a capability name (CAP_...)");
    }
    if (const auto& sc = app.isolation.seccomp) {
        for (const auto* list : {&sc->syscalls, &sc->argument_filtered})
            for (const auto& s : *list)
                if (!is_syscall_name(s))
                    invalid(where, "\"" + s.substr(0, 64) + "\" is not a system call name");
        if (sc->syscalls.size() > kMaxSyscalls || sc->argument_filtered.size() > kMaxSyscalls)
            invalid(where, "more than " + std::to_string(kMaxSyscalls) + " system calls");
        if (sc->errno_value < 0 || sc->errno_value > 4095)
            invalid(where, "seccomp errno must be 0..4095");
    }
    if (const auto& adj = app.isolation.oom_score_adj)
        if (*adj < -1000 || *adj > 1000) invalid(where, "oom_score_adj must be -1000..1000");
    const AppLimits& lim = app.limits;
    if (lim.memory_bytes && (*lim.memory_bytes < 1 || *lim.memory_bytes > kMaxMemoryLimit))
        invalid(where, "limits.memory_bytes must be 1.." + std::to_string(kMaxMemoryLimit));
    if (lim.cpu_millis && (*lim.cpu_millis < 1 || *lim.cpu_millis > kMaxCpuMillis))
        invalid(where, "limits.cpu_millis must be 1.." + std::to_string(kMaxCpuMillis));
    if (lim.cpu_weight && (*lim.cpu_weight < 1 || *lim.cpu_weight > kMaxCpuWeight))
        invalid(where, "limits.cpu_weight must be 1.." + std::to_string(kMaxCpuWeight));
    if (lim.pids_max && (*lim.pids_max < 1 || *lim.pids_max > kMaxPids))
        invalid(where, "limits.pids_max must be 1.." + std::to_string(kMaxPids));
    std::set<std::string> paths;
    for (const auto& m : app.mounts) {
        if (!volume_names.count(m.volume))
            invalid(where, "mount of unknown volume \"" + m.volume.substr(0, 64) + "\"");
        check_absolute_path(where + ": mount path", m.path);
        if (!paths.insert(m.path).second) invalid(where, "two mounts on " + m.path.substr(0, 256));
    }
}

// ---- JSON <-> structs ----

std::string_view seccomp_mode_name(SeccompSettings::Mode m) {
    return m == SeccompSettings::Mode::kRetain ? "retain" : "remove";
}

std::string_view level_name(LogMessage::Level l) {
    switch (l) {
        case LogMessage::Level::kDebug:
            return "debug";
        case LogMessage::Level::kInfo:
            return "info";
        case LogMessage::Level::kWarning:
            return "warning";
        case LogMessage::Level::kError:
            return "error";
    }
    return "info";
}

json to_json(const GuestApp& app) {
    json iso = {
        {"masked_paths", app.isolation.masked_paths},
        {"no_new_privileges", app.isolation.no_new_privileges},
        {"capabilities_granted_to_non_root", app.isolation.capabilities_granted_to_non_root}};
    if (app.isolation.capabilities) iso["capabilities"] = *app.isolation.capabilities;
    if (const auto& sc = app.isolation.seccomp) {
        iso["seccomp"] = {{"mode", seccomp_mode_name(sc->mode)},
                          {"all", sc->all},
                          {"syscalls", sc->syscalls},
                          {"argument_filtered", sc->argument_filtered},
                          {"errno", sc->errno_value}};
    }
    if (app.isolation.oom_score_adj) iso["oom_score_adj"] = *app.isolation.oom_score_adj;
    json limits = json::object();
    if (app.limits.memory_bytes) limits["memory_bytes"] = *app.limits.memory_bytes;
    if (app.limits.cpu_millis) limits["cpu_millis"] = *app.limits.cpu_millis;
    if (app.limits.cpu_weight) limits["cpu_weight"] = *app.limits.cpu_weight;
    if (app.limits.pids_max) limits["pids_max"] = *app.limits.pids_max;
    json mounts = json::array();
    for (const auto& m : app.mounts)
        mounts.push_back({{"volume", m.volume}, {"path", m.path}, {"read_only", m.read_only}});
    json j = {{"name", app.name},
              {"exec", app.exec},
              {"env", app.env},
              {"user", app.user},
              {"group", app.group},
              {"supplementary_gids", app.supplementary_gids},
              {"working_dir", app.working_dir},
              {"disk", app.disk},
              {"isolation", iso},
              {"limits", limits},
              {"mounts", mounts}};
    if (!app.disk_serial.empty()) j["disk_serial"] = app.disk_serial;
    return j;
}

json to_json(const PodSpec& spec) {
    json apps = json::array();
    for (const auto& a : spec.apps) apps.push_back(to_json(a));
    json volumes = json::array();
    for (const auto& v : spec.volumes) {
        json jv = {{"name", v.name},
                   {"kind", v.kind == VolumeSpec::Kind::k9p ? "9p" : "empty"},
                   {"read_only", v.read_only}};
        if (v.kind == VolumeSpec::Kind::k9p) {
            jv["tag"] = v.tag;
        } else {
            jv["mode"] = v.mode;
            jv["uid"] = v.uid;
            jv["gid"] = v.gid;
        }
        volumes.push_back(jv);
    }
    json hosts = json::array();
    for (const auto& h : spec.hosts_entries) hosts.push_back({{"ip", h.ip}, {"names", h.names}});
    json j = {{"hostname", spec.hostname}, {"apps", apps},
              {"volumes", volumes},        {"stop_grace_ms", spec.stop_grace_ms},
              {"hosts_entries", hosts},    {"debug", spec.debug}};
    if (spec.dns) {
        j["dns"] = {{"nameservers", spec.dns->nameservers},
                    {"search", spec.dns->search},
                    {"options", spec.dns->options}};
    }
    return j;
}

IsolationSettings isolation_from_json(const json& j, const std::string& where) {
    Fields f(j, where);
    IsolationSettings iso;
    if (f.has("capabilities")) iso.capabilities = f.strings("capabilities");
    iso.capabilities_granted_to_non_root = f.boolean_or("capabilities_granted_to_non_root", false);
    if (f.has("seccomp")) {
        Fields s(f.raw("seccomp"), where + ".seccomp");
        SeccompSettings sc;
        std::string mode = s.string("mode");
        if (mode == "retain")
            sc.mode = SeccompSettings::Mode::kRetain;
        else if (mode == "remove")
            sc.mode = SeccompSettings::Mode::kRemove;
        else
            s.fail("mode must be \"retain\" or \"remove\"");
        sc.all = s.boolean_or("all", false);
        sc.syscalls = s.strings_or_empty("syscalls");
        sc.argument_filtered = s.strings_or_empty("argument_filtered");
        sc.errno_value = static_cast<int>(s.integer("errno", 0, 4095));
        s.finish();
        iso.seccomp = std::move(sc);
    }
    iso.masked_paths = f.boolean("masked_paths");
    iso.no_new_privileges = f.boolean("no_new_privileges");
    if (f.has("oom_score_adj"))
        iso.oom_score_adj = static_cast<int>(f.integer("oom_score_adj", -1000, 1000));
    f.finish();
    return iso;
}

AppLimits limits_from_json(const json& j, const std::string& where) {
    Fields f(j, where);
    AppLimits lim;
    if (f.has("memory_bytes"))
        lim.memory_bytes = static_cast<uint64_t>(
            f.integer("memory_bytes", 1, static_cast<int64_t>(kMaxMemoryLimit)));
    if (f.has("cpu_millis"))
        lim.cpu_millis = static_cast<uint32_t>(f.integer("cpu_millis", 1, kMaxCpuMillis));
    if (f.has("cpu_weight"))
        lim.cpu_weight = static_cast<uint32_t>(f.integer("cpu_weight", 1, kMaxCpuWeight));
    if (f.has("pids_max")) lim.pids_max = static_cast<uint32_t>(f.integer("pids_max", 1, kMaxPids));
    f.finish();
    return lim;
}

GuestApp app_from_json(const json& j, size_t index) {
    Fields f(j, "pod spec: apps[" + std::to_string(index) + "]");
    GuestApp app;
    app.name = f.string("name");
    app.exec = f.strings("exec");
    app.env = f.strings_or_empty("env");
    app.user = f.string("user");
    app.group = f.string("group");
    if (f.has("supplementary_gids")) {
        for (const auto& g : f.array("supplementary_gids"))
            app.supplementary_gids.push_back(static_cast<uint32_t>(
                f.checked_integer(g, "supplementary_gids", 0, UINT32_MAX - 1)));
    }
    app.working_dir = f.string_or("working_dir", "/");
    app.disk = static_cast<uint32_t>(f.integer("disk", 0, kMaxDiskIndex));
    app.disk_serial = f.string_or("disk_serial", "");
    app.isolation = isolation_from_json(f.raw("isolation"), f.where() + ".isolation");
    // Required, so that a host that forgot the limits is an error, not an unlimited app.
    app.limits = limits_from_json(f.raw("limits"), f.where() + ".limits");
    if (f.has("mounts")) {
        size_t i = 0;
        for (const auto& jm : f.array("mounts")) {
            Fields m(jm, f.where() + ".mounts[" + std::to_string(i++) + "]");
            MountSpec ms;
            ms.volume = m.string("volume");
            ms.path = m.string("path");
            ms.read_only = m.boolean_or("read_only", false);
            m.finish();
            app.mounts.push_back(std::move(ms));
        }
    }
    f.finish();
    return app;
}

PodSpec pod_spec_from_json(const json& j) {
    Fields f(j, "pod spec");
    PodSpec spec;
    spec.hostname = f.string("hostname");
    size_t i = 0;
    const json& apps = f.array("apps");
    if (apps.size() > kMaxApps) f.fail("more than " + std::to_string(kMaxApps) + " apps");
    for (const auto& a : apps) spec.apps.push_back(app_from_json(a, i++));
    if (f.has("volumes")) {
        i = 0;
        for (const auto& jv : f.array("volumes")) {
            Fields v(jv, "pod spec: volumes[" + std::to_string(i++) + "]");
            VolumeSpec vs;
            vs.name = v.string("name");
            std::string kind = v.string("kind");
            if (kind == "9p") {
                vs.kind = VolumeSpec::Kind::k9p;
                vs.tag = v.string("tag");
            } else if (kind == "empty") {
                vs.kind = VolumeSpec::Kind::kEmpty;
                vs.mode = static_cast<uint32_t>(
                    v.integer_or("mode", 0, kMaxVolumeMode, kDefaultVolumeMode));
                vs.uid = static_cast<uint32_t>(v.integer_or("uid", 0, kMaxId, 0));
                vs.gid = static_cast<uint32_t>(v.integer_or("gid", 0, kMaxId, 0));
            } else {
                v.fail("kind must be \"9p\" or \"empty\"");
            }
            vs.read_only = v.boolean_or("read_only", false);
            v.finish();
            spec.volumes.push_back(std::move(vs));
        }
    }
    spec.stop_grace_ms = static_cast<uint32_t>(
        f.integer_or("stop_grace_ms", 0, kMaxStopGraceMs, kDefaultStopGraceMs));
    if (f.has("hosts_entries")) {
        i = 0;
        for (const auto& jh : f.array("hosts_entries")) {
            Fields h(jh, "pod spec: hosts_entries[" + std::to_string(i++) + "]");
            HostsEntry he;
            he.ip = h.string("ip");
            he.names = h.strings("names");
            h.finish();
            spec.hosts_entries.push_back(std::move(he));
        }
    }
    if (f.has("dns")) {
        Fields d(f.raw("dns"), "pod spec: dns");
        DnsConfig dns;
        dns.nameservers = d.strings_or_empty("nameservers");
        dns.search = d.strings_or_empty("search");
        dns.options = d.strings_or_empty("options");
        d.finish();
        spec.dns = std::move(dns);
    }
    spec.debug = f.boolean_or("debug", false);
    f.finish();
    validate_pod_spec(spec);
    return spec;
}

void check_app_name_field(const std::string& where, const std::string& name) {
    if (!strings::is_valid_acname(name)) invalid(where, "\"app\" is not a valid app name");
}

void check_exec_id(const std::string& where, uint32_t id) {
    if (id < 1 || id > kMaxExecId)
        invalid(where, "\"id\" must be 1.." + std::to_string(kMaxExecId));
}

void check_exec_argv(const std::string& where, const std::vector<std::string>& argv) {
    if (argv.empty() || argv.front().empty())
        invalid(where, "exec must name a program (it is empty)");
    for (const auto& arg : argv)
        if (has_nul(arg)) invalid(where, "an exec argument contains a NUL byte");
}

// The OOM killer ends a process with SIGKILL; an app that never ran was not killed at all.
void check_oom_killed(const std::string& where, const AppExited& m) {
    if (m.oom_killed && (m.signal != SIGKILL || m.exit_code != 128 + SIGKILL || !m.error.empty()))
        invalid(where, "\"oom_killed\" is only for an app ended by SIGKILL (exit_code 137)");
}

std::string_view stream_name(Stream s) {
    return s == Stream::kStdout ? "stdout" : "stderr";
}

Stream stream_from(Fields& f) {
    std::string stream = f.string("stream");
    if (stream == "stdout") return Stream::kStdout;
    if (stream == "stderr") return Stream::kStderr;
    f.fail("stream must be \"stdout\" or \"stderr\"");
}

json parse_body(const Frame& frame) {
    json j;
    try {
        j = json::parse(frame.json);
    } catch (const json::exception& e) {
        throw Error(std::string(message_type_name(frame.type)) + ": the body is not valid JSON (" +
                    e.what() + ")");
    }
    return j;
}

std::string dump(const json& j, bool strict_utf8) {
    try {
        return j.dump(-1, ' ', false,
                      strict_utf8 ? json::error_handler_t::strict : json::error_handler_t::replace);
    } catch (const json::exception& e) {
        throw Error(std::string("cannot encode a message: a string is not valid UTF-8 (") +
                    e.what() + ")");
    }
}

}  // namespace

std::string_view message_type_name(MessageType type) {
    switch (type) {
        case MessageType::kPodSpec:
            return "PodSpec";
        case MessageType::kStopPod:
            return "StopPod";
        case MessageType::kSignal:
            return "Signal";
        case MessageType::kReady:
            return "Ready";
        case MessageType::kAppStarted:
            return "AppStarted";
        case MessageType::kAppOutput:
            return "AppOutput";
        case MessageType::kAppExited:
            return "AppExited";
        case MessageType::kPodExited:
            return "PodExited";
        case MessageType::kLog:
            return "Log";
        case MessageType::kError:
            return "Error";
        case MessageType::kExec:
            return "Exec";
        case MessageType::kExecSignal:
            return "ExecSignal";
        case MessageType::kExecStarted:
            return "ExecStarted";
        case MessageType::kExecOutput:
            return "ExecOutput";
        case MessageType::kExecExited:
            return "ExecExited";
    }
    return "unknown";
}

bool is_known_message_type(uint16_t type) {
    return message_type_name(static_cast<MessageType>(type)) != "unknown";
}

MessageType message_type(const Message& message) {
    struct Visitor {
        MessageType operator()(const PodSpec&) const { return MessageType::kPodSpec; }
        MessageType operator()(const StopPod&) const { return MessageType::kStopPod; }
        MessageType operator()(const SignalApps&) const { return MessageType::kSignal; }
        MessageType operator()(const Ready&) const { return MessageType::kReady; }
        MessageType operator()(const AppStarted&) const { return MessageType::kAppStarted; }
        MessageType operator()(const AppOutput&) const { return MessageType::kAppOutput; }
        MessageType operator()(const AppExited&) const { return MessageType::kAppExited; }
        MessageType operator()(const PodExited&) const { return MessageType::kPodExited; }
        MessageType operator()(const LogMessage&) const { return MessageType::kLog; }
        MessageType operator()(const ErrorMessage&) const { return MessageType::kError; }
        MessageType operator()(const Exec&) const { return MessageType::kExec; }
        MessageType operator()(const ExecSignal&) const { return MessageType::kExecSignal; }
        MessageType operator()(const ExecStarted&) const { return MessageType::kExecStarted; }
        MessageType operator()(const ExecOutput&) const { return MessageType::kExecOutput; }
        MessageType operator()(const ExecExited&) const { return MessageType::kExecExited; }
    };
    return std::visit(Visitor{}, message);
}

void validate_pod_spec(const PodSpec& spec) {
    if (!is_hostname(spec.hostname))
        invalid("pod spec", "hostname \"" + spec.hostname.substr(0, 80) +
                                "\" is not a valid host name (letters, digits, dashes, dots)");
    if (spec.apps.empty()) invalid("pod spec", "has no apps");
    if (spec.apps.size() > kMaxApps)
        invalid("pod spec", "more than " + std::to_string(kMaxApps) + " apps");
    if (spec.stop_grace_ms > kMaxStopGraceMs)
        invalid("pod spec", "stop_grace_ms is above one hour");
    std::set<std::string> volume_names;
    for (const auto& v : spec.volumes) {
        if (!strings::is_valid_acname(v.name))
            invalid("pod spec: volume \"" + v.name.substr(0, 64) + "\"", "name must be an ACName");
        if (!volume_names.insert(v.name).second)
            invalid("pod spec", "two volumes are named " + v.name);
        if (v.kind == VolumeSpec::Kind::k9p) {
            if (v.tag.size() > 64 || !is_token(v.tag))
                invalid("pod spec: volume " + v.name,
                        "9p tag must be 1..64 printable characters without spaces");
            if (v.mode != kDefaultVolumeMode || v.uid != 0 || v.gid != 0)
                invalid("pod spec: volume " + v.name,
                        "a 9p volume takes no mode, uid or gid (the host directory has its own)");
        } else {
            if (!v.tag.empty())
                invalid("pod spec: volume " + v.name, "an empty volume takes no tag");
            if (v.mode > kMaxVolumeMode)
                invalid("pod spec: volume " + v.name, "mode is above 07777");
            if (v.uid > kMaxId || v.gid > kMaxId)
                invalid("pod spec: volume " + v.name, "uid and gid must be below 4294967295");
        }
    }
    std::set<std::string> app_names;
    for (const auto& app : spec.apps) {
        validate_app(app, volume_names);
        if (!app_names.insert(app.name).second)
            invalid("pod spec", "two apps are named " + app.name);
    }
    for (const auto& h : spec.hosts_entries) {
        if (!is_token(h.ip)) invalid("pod spec: hosts entry", "ip must be one printable token");
        if (h.names.empty()) invalid("pod spec: hosts entry " + h.ip, "has no names");
        for (const auto& n : h.names)
            if (!is_token(n)) invalid("pod spec: hosts entry " + h.ip, "a name is not a token");
    }
    if (spec.dns) {
        for (const auto* list : {&spec.dns->nameservers, &spec.dns->search, &spec.dns->options})
            for (const auto& s : *list)
                if (!is_token(s)) invalid("pod spec: dns", "an entry is not one printable token");
    }
}

Frame to_frame(const Message& message) {
    Frame frame;
    frame.type = message_type(message);
    struct Visitor {
        Frame& f;
        void operator()(const PodSpec& m) const {
            validate_pod_spec(m);
            f.json = dump(to_json(m), true);
        }
        void operator()(const StopPod& m) const { f.json = dump({{"force", m.force}}, true); }
        void operator()(const SignalApps& m) const {
            if (!m.app.empty()) check_app_name_field("Signal", m.app);
            if (m.signal < 1 || m.signal > kMaxSignal) invalid("Signal", "signal out of range");
            f.json = dump({{"app", m.app}, {"signal", m.signal}}, true);
        }
        void operator()(const Ready& m) const {
            f.json = dump({{"monotonic_ns", m.monotonic_ns},
                           {"kernel_release", m.kernel_release},
                           {"protocol_version", kProtocolVersion}},
                          false);
        }
        void operator()(const AppStarted& m) const {
            check_app_name_field("AppStarted", m.app);
            f.json = dump({{"app", m.app}, {"pid", m.pid}}, true);
        }
        void operator()(const AppOutput& m) const {
            check_app_name_field("AppOutput", m.app);
            if (m.data.size() > kMaxPayloadLength)
                invalid("AppOutput", "more than " + std::to_string(kMaxPayloadLength) + " bytes");
            f.json = dump(
                {{"app", m.app}, {"stream", m.stream == Stream::kStdout ? "stdout" : "stderr"}},
                true);
            f.payload = m.data;
        }
        void operator()(const AppExited& m) const {
            check_app_name_field("AppExited", m.app);
            check_oom_killed("AppExited", m);
            json j = {{"app", m.app}, {"exit_code", m.exit_code}};
            if (m.signal != 0) j["signal"] = m.signal;
            if (!m.error.empty()) j["error"] = m.error;
            if (m.oom_killed) j["oom_killed"] = true;
            f.json = dump(j, false);
        }
        void operator()(const PodExited& m) const {
            f.json = dump({{"exit_code", m.exit_code}}, true);
        }
        void operator()(const LogMessage& m) const {
            f.json = dump({{"level", level_name(m.level)}, {"message", m.message}}, false);
        }
        void operator()(const ErrorMessage& m) const {
            f.json = dump({{"message", m.message}}, false);
        }
        void operator()(const Exec& m) const {
            check_exec_id("Exec", m.id);
            check_app_name_field("Exec", m.app);
            check_exec_argv("Exec", m.exec);
            f.json = dump({{"id", m.id}, {"app", m.app}, {"exec", m.exec}}, true);
        }
        void operator()(const ExecSignal& m) const {
            check_exec_id("ExecSignal", m.id);
            if (m.signal < 1 || m.signal > kMaxSignal) invalid("ExecSignal", "signal out of range");
            f.json = dump({{"id", m.id}, {"signal", m.signal}}, true);
        }
        void operator()(const ExecStarted& m) const {
            check_exec_id("ExecStarted", m.id);
            if (m.pid < 1) invalid("ExecStarted", "pid must be positive");
            f.json = dump({{"id", m.id}, {"pid", m.pid}}, true);
        }
        void operator()(const ExecOutput& m) const {
            check_exec_id("ExecOutput", m.id);
            if (m.data.size() > kMaxPayloadLength)
                invalid("ExecOutput", "more than " + std::to_string(kMaxPayloadLength) + " bytes");
            f.json = dump({{"id", m.id}, {"stream", stream_name(m.stream)}}, true);
            f.payload = m.data;
        }
        void operator()(const ExecExited& m) const {
            check_exec_id("ExecExited", m.id);
            if (m.exit_code < 0 || m.exit_code > 255)
                invalid("ExecExited", "exit_code out of range");
            if (m.signal < 0 || m.signal > kMaxSignal) invalid("ExecExited", "signal out of range");
            json j = {{"id", m.id}, {"exit_code", m.exit_code}};
            if (m.signal != 0) j["signal"] = m.signal;
            if (!m.error.empty()) j["error"] = m.error;
            f.json = dump(j, false);
        }
    };
    std::visit(Visitor{frame}, message);
    if (frame.json.size() > kMaxJsonLength)
        throw Error(std::string(message_type_name(frame.type)) + " is larger than " +
                    std::to_string(kMaxJsonLength) + " bytes");
    return frame;
}

Message decode_message(const Frame& frame) {
    const std::string name(message_type_name(frame.type));
    if (!frame.payload.empty() && frame.type != MessageType::kAppOutput &&
        frame.type != MessageType::kExecOutput)
        throw Error(name + ": unexpected binary payload");
    json j = parse_body(frame);
    switch (frame.type) {
        case MessageType::kPodSpec:
            return pod_spec_from_json(j);
        case MessageType::kStopPod: {
            Fields f(j, name);
            StopPod m{f.boolean("force")};
            f.finish();
            return m;
        }
        case MessageType::kSignal: {
            Fields f(j, name);
            SignalApps m;
            m.app = f.string("app");
            if (!m.app.empty()) check_app_name_field(name, m.app);
            m.signal = static_cast<int>(f.integer("signal", 1, kMaxSignal));
            f.finish();
            return m;
        }
        case MessageType::kReady: {
            Fields f(j, name);
            Ready m;
            m.monotonic_ns = f.unsigned64("monotonic_ns");
            m.kernel_release = f.string("kernel_release");
            f.integer("protocol_version", kProtocolVersion, kProtocolVersion);
            f.finish();
            return m;
        }
        case MessageType::kAppStarted: {
            Fields f(j, name);
            AppStarted m;
            m.app = f.string("app");
            check_app_name_field(name, m.app);
            m.pid = static_cast<int32_t>(f.integer("pid", 1, INT32_MAX));
            f.finish();
            return m;
        }
        case MessageType::kAppOutput: {
            Fields f(j, name);
            AppOutput m;
            m.app = f.string("app");
            check_app_name_field(name, m.app);
            std::string stream = f.string("stream");
            if (stream == "stdout")
                m.stream = Stream::kStdout;
            else if (stream == "stderr")
                m.stream = Stream::kStderr;
            else
                f.fail("stream must be \"stdout\" or \"stderr\"");
            f.finish();
            m.data = frame.payload;
            return m;
        }
        case MessageType::kAppExited: {
            Fields f(j, name);
            AppExited m;
            m.app = f.string("app");
            check_app_name_field(name, m.app);
            m.exit_code = static_cast<int>(f.integer("exit_code", 0, 255));
            m.signal = static_cast<int>(f.integer_or("signal", 1, kMaxSignal, 0));
            m.error = f.string_or("error", "");
            m.oom_killed = f.boolean_or("oom_killed", false);
            f.finish();
            check_oom_killed(name, m);
            return m;
        }
        case MessageType::kPodExited: {
            Fields f(j, name);
            PodExited m{static_cast<int>(f.integer("exit_code", 0, 255))};
            f.finish();
            return m;
        }
        case MessageType::kLog: {
            Fields f(j, name);
            LogMessage m;
            std::string level = f.string("level");
            if (level == "debug")
                m.level = LogMessage::Level::kDebug;
            else if (level == "info")
                m.level = LogMessage::Level::kInfo;
            else if (level == "warning")
                m.level = LogMessage::Level::kWarning;
            else if (level == "error")
                m.level = LogMessage::Level::kError;
            else
                f.fail("level must be debug, info, warning or error");
            m.message = f.string("message");
            f.finish();
            return m;
        }
        case MessageType::kError: {
            Fields f(j, name);
            ErrorMessage m{f.string("message")};
            f.finish();
            return m;
        }
        case MessageType::kExec: {
            Fields f(j, name);
            Exec m;
            m.id = static_cast<uint32_t>(f.integer("id", 1, kMaxExecId));
            m.app = f.string("app");
            check_app_name_field(name, m.app);
            m.exec = f.strings("exec");
            check_exec_argv(name, m.exec);
            f.finish();
            return m;
        }
        case MessageType::kExecSignal: {
            Fields f(j, name);
            ExecSignal m;
            m.id = static_cast<uint32_t>(f.integer("id", 1, kMaxExecId));
            m.signal = static_cast<int>(f.integer("signal", 1, kMaxSignal));
            f.finish();
            return m;
        }
        case MessageType::kExecStarted: {
            Fields f(j, name);
            ExecStarted m;
            m.id = static_cast<uint32_t>(f.integer("id", 1, kMaxExecId));
            m.pid = static_cast<int32_t>(f.integer("pid", 1, INT32_MAX));
            f.finish();
            return m;
        }
        case MessageType::kExecOutput: {
            Fields f(j, name);
            ExecOutput m;
            m.id = static_cast<uint32_t>(f.integer("id", 1, kMaxExecId));
            m.stream = stream_from(f);
            f.finish();
            m.data = frame.payload;
            return m;
        }
        case MessageType::kExecExited: {
            Fields f(j, name);
            ExecExited m;
            m.id = static_cast<uint32_t>(f.integer("id", 1, kMaxExecId));
            m.exit_code = static_cast<int>(f.integer("exit_code", 0, 255));
            m.signal = static_cast<int>(f.integer_or("signal", 1, kMaxSignal, 0));
            m.error = f.string_or("error", "");
            f.finish();
            return m;
        }
    }
    throw Error("unknown message type " + std::to_string(static_cast<unsigned>(frame.type)));
}

std::string serialize_frame(const Frame& frame) {
    if (!is_known_message_type(static_cast<uint16_t>(frame.type)))
        throw Error("cannot send a frame of unknown type " +
                    std::to_string(static_cast<unsigned>(frame.type)));
    if (frame.json.empty() || frame.json.size() > kMaxJsonLength)
        throw Error("a frame's JSON body must be 1.." + std::to_string(kMaxJsonLength) + " bytes");
    if (frame.payload.size() > kMaxPayloadLength)
        throw Error("a frame's payload must be at most " + std::to_string(kMaxPayloadLength) +
                    " bytes");
    std::string out;
    out.reserve(kHeaderSize + frame.json.size() + frame.payload.size());
    out.append(kMagic, sizeof kMagic);
    put_u16(out, kProtocolVersion);
    put_u16(out, static_cast<uint16_t>(frame.type));
    put_u32(out, frame.sequence);
    put_u32(out, static_cast<uint32_t>(frame.json.size()));
    put_u32(out, static_cast<uint32_t>(frame.payload.size()));
    out += frame.json;
    out += frame.payload;
    return out;
}

// ---- FrameReader ----

void FrameReader::fail(std::string message) {
    failure_ = "guest protocol: " + message;
    throw Error(*failure_);
}

void FrameReader::feed(std::string_view bytes) {
    if (failure_) throw Error(*failure_);
    // Drop consumed bytes before growing, so the buffer stays about one frame long.
    if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    buffer_.append(bytes);
}

std::optional<Frame> FrameReader::next() {
    if (failure_) throw Error(*failure_);
    if (buffered() < kHeaderSize) {
        // Check the magic as soon as it is there: garbage is reported without waiting.
        size_t n = std::min(buffered(), sizeof kMagic);
        if (std::memcmp(buffer_.data() + consumed_, kMagic, n) != 0)
            fail("bad frame magic (the stream is not guest protocol or lost its framing)");
        return std::nullopt;
    }
    const char* h = buffer_.data() + consumed_;
    if (std::memcmp(h, kMagic, sizeof kMagic) != 0)
        fail("bad frame magic (the stream is not guest protocol or lost its framing)");
    uint16_t version = get_u16(h + 4);
    if (version != kProtocolVersion)
        fail("unsupported protocol version " + std::to_string(version) + " (this side speaks " +
             std::to_string(kProtocolVersion) + "; host and guest come from different builds)");
    uint16_t type = get_u16(h + 6);
    if (!is_known_message_type(type)) fail("unknown message type " + std::to_string(type));
    uint32_t sequence = get_u32(h + 8);
    uint32_t json_length = get_u32(h + 12);
    uint32_t payload_length = get_u32(h + 16);
    if (json_length == 0 || json_length > kMaxJsonLength)
        fail("frame JSON length " + std::to_string(json_length) + " is outside 1.." +
             std::to_string(kMaxJsonLength));
    if (payload_length > kMaxPayloadLength)
        fail("frame payload length " + std::to_string(payload_length) + " is above " +
             std::to_string(kMaxPayloadLength));
    if (sequence != expected_sequence_)
        fail("frame " + std::to_string(sequence) + " arrived where " +
             std::to_string(expected_sequence_) + " was expected (frames were lost or replayed)");
    size_t total = kHeaderSize + json_length + payload_length;
    if (buffered() < total) return std::nullopt;
    Frame frame;
    frame.type = static_cast<MessageType>(type);
    frame.sequence = sequence;
    frame.json.assign(h + kHeaderSize, json_length);
    frame.payload.assign(h + kHeaderSize + json_length, payload_length);
    consumed_ += total;
    if (consumed_ == buffer_.size()) {
        buffer_.clear();
        consumed_ = 0;
    }
    ++expected_sequence_;
    return frame;
}

std::optional<Message> FrameReader::next_message() {
    auto frame = next();
    if (!frame) return std::nullopt;
    return decode_message(*frame);
}

bool FrameReader::read_from(int fd) {
    char buf[16384];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
        throw system_error("guest protocol: cannot read from the channel");
    }
    if (n == 0) return false;
    feed(std::string_view(buf, static_cast<size_t>(n)));
    return true;
}

// ---- FrameWriter ----

std::string FrameWriter::encode(const Message& message) {
    Frame frame = to_frame(message);
    frame.sequence = next_sequence_;
    std::string bytes = serialize_frame(frame);
    ++next_sequence_;
    return bytes;
}

void FrameWriter::write(int fd, const Message& message) {
    std::string bytes = encode(message);
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            int r = ::poll(&p, 1, -1);
            if (r < 0 && errno != EINTR) throw system_error("guest protocol: poll");
            // A virtio port reports POLLHUP without POLLOUT while the host is not connected.
            if (r > 0 && (p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLOUT))
                throw Error("guest protocol: the peer closed the channel");
            continue;
        }
        throw system_error("guest protocol: cannot write to the channel");
    }
}

}  // namespace rkt::guest
