#include "common/guest_protocol/pod_spec.h"

#include <algorithm>
#include <set>

#include "common/guest_protocol/ip_prefix.h"
#include "common/guest_protocol/json_fields.h"
#include "common/guest_protocol/value_rules.h"
#include "common/strings.h"
#include "common/verity_info.h"

namespace rkt::guest {

using nlohmann::json;
using rules::has_nul;
using rules::invalid;
using rules::is_token;

namespace {

constexpr uint32_t kMaxStopGraceMs = 3600 * 1000;
constexpr size_t kMaxSupplementaryGids = 256;
constexpr size_t kMaxSyscalls = 1024;

// ---- value rules ----

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
    rules::check_exec_argv(where, app.exec);
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
    if (const auto& v = app.verity) {
        if (v->data_blocks < 1 || v->data_blocks > kMaxVerityDataBlocks)
            invalid(where, "verity.data_blocks must be 1.." + std::to_string(kMaxVerityDataBlocks));
        if (v->hash_start_block < v->data_blocks || v->hash_start_block > 2 * kMaxVerityDataBlocks)
            invalid(where, "verity.hash_start_block must be data_blocks.." +
                               std::to_string(2 * kMaxVerityDataBlocks) +
                               " (the hash tree follows the data)");
        if (!is_lower_hex(v->root_hash, kVerityDigestBytes))
            invalid(where, "verity.root_hash must be 64 lower-case hex digits");
        if (!is_lower_hex(v->salt, kVeritySaltBytes))
            invalid(where, "verity.salt must be 64 lower-case hex digits");
    }
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

// eth0: lower-case letters, digits, '_' and '-' only, so the name is never "." or "..", never
// has a '/' or ':' (which the kernel refuses or reads as an alias) and is safe in a sysfs path.
bool is_interface_name(std::string_view s) {
    if (s.empty() || s.size() > kMaxInterfaceName) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

// "aa:bb:cc:dd:ee:ff", lower-case, as /sys/class/net/<if>/address prints it.
bool is_mac_form(std::string_view s) {
    if (s.size() != 17) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        bool ok = i % 3 == 2 ? c == ':' : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (!ok) return false;
    }
    return true;
}

void validate_interface(const InterfaceSpec& ifc, size_t index) {
    if (!is_interface_name(ifc.name) || ifc.name == "lo")
        invalid("pod spec: interfaces[" + std::to_string(index) + "]",
                "name \"" + strings::printable(ifc.name, 64) +
                    "\" must be 1..15 lower-case letters, digits, '_' or '-', and not lo");
    const std::string where = "pod spec: interface " + ifc.name;
    if (!is_mac_form(ifc.mac))
        invalid(where, "mac \"" + strings::printable(ifc.mac, 64) +
                           "\" is not a lower-case MAC address (aa:bb:cc:dd:ee:ff)");
    // The low bit of the first byte marks a group address, which no NIC has as its own.
    if (std::stoi(ifc.mac.substr(0, 2), nullptr, 16) & 1)
        invalid(where, "mac " + ifc.mac + " is a multicast address, not a NIC's");
    if (ifc.mac == "00:00:00:00:00:00") invalid(where, "mac is all zeros");
    if (ifc.mtu < kMinMtu || ifc.mtu > kMaxMtu)
        invalid(where, "mtu " + std::to_string(ifc.mtu) + " is outside " + std::to_string(kMinMtu) +
                           ".." + std::to_string(kMaxMtu));
    if (ifc.addresses.size() > kMaxInterfaceAddresses)
        invalid(where, "more than " + std::to_string(kMaxInterfaceAddresses) + " addresses");
    for (const auto& a : ifc.addresses)
        if (!parse_ip_prefix(a))
            invalid(where, "address \"" + strings::printable(a, 64) +
                               "\" is not an IP address with a prefix length (CIDR)");
    if (ifc.routes.size() > kMaxInterfaceRoutes)
        invalid(where, "more than " + std::to_string(kMaxInterfaceRoutes) + " routes");
    for (const auto& r : ifc.routes) {
        auto dst = parse_ip_prefix(r.destination);
        if (!dst)
            invalid(where, "route destination \"" + strings::printable(r.destination, 64) +
                               "\" is not a CIDR prefix");
        if (r.gateway.empty()) continue;
        auto gw = parse_ip_address(r.gateway);
        if (!gw)
            invalid(where, "route " + r.destination + ": gateway \"" +
                               strings::printable(r.gateway, 64) + "\" is not an IP address");
        if (gw->family != dst->address.family)
            invalid(where, "route " + r.destination + ": gateway " + r.gateway +
                               " is not of the destination's address family");
    }
}

void validate_interfaces(const std::vector<InterfaceSpec>& interfaces) {
    if (interfaces.size() > kMaxInterfaces)
        invalid("pod spec", "more than " + std::to_string(kMaxInterfaces) + " interfaces");
    std::set<std::string> names, macs;
    for (size_t i = 0; i < interfaces.size(); ++i) {
        validate_interface(interfaces[i], i);
        if (!names.insert(interfaces[i].name).second)
            invalid("pod spec", "two interfaces are named " + interfaces[i].name);
        if (!macs.insert(interfaces[i].mac).second)
            invalid("pod spec", "two interfaces have mac " + interfaces[i].mac);
    }
}

// ---- JSON <-> structs ----

std::string_view seccomp_mode_name(SeccompSettings::Mode m) {
    return m == SeccompSettings::Mode::kRetain ? "retain" : "remove";
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
    if (const auto& v = app.verity)
        j["verity"] = {{"data_blocks", v->data_blocks},
                       {"hash_start_block", v->hash_start_block},
                       {"root_hash", v->root_hash},
                       {"salt", v->salt}};
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
        if (!spec.dns->domain.empty()) j["dns"]["domain"] = spec.dns->domain;
    }
    json interfaces = json::array();
    for (const auto& ifc : spec.interfaces) {
        json routes = json::array();
        for (const auto& r : ifc.routes) {
            json jr = {{"destination", r.destination}, {"metric", r.metric}};
            if (!r.gateway.empty()) jr["gateway"] = r.gateway;
            routes.push_back(jr);
        }
        interfaces.push_back({{"name", ifc.name},
                              {"mac", ifc.mac},
                              {"mtu", ifc.mtu},
                              {"addresses", ifc.addresses},
                              {"routes", routes}});
    }
    j["interfaces"] = interfaces;
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
        sc.errno_value = static_cast<int>(s.integer("errno", {0, 4095}));
        s.finish();
        iso.seccomp = std::move(sc);
    }
    iso.masked_paths = f.boolean("masked_paths");
    iso.no_new_privileges = f.boolean("no_new_privileges");
    if (f.has("oom_score_adj"))
        iso.oom_score_adj = static_cast<int>(f.integer("oom_score_adj", {-1000, 1000}));
    f.finish();
    return iso;
}

AppLimits limits_from_json(const json& j, const std::string& where) {
    Fields f(j, where);
    AppLimits lim;
    if (f.has("memory_bytes"))
        lim.memory_bytes = static_cast<uint64_t>(
            f.integer("memory_bytes", {1, static_cast<int64_t>(kMaxMemoryLimit)}));
    if (f.has("cpu_millis"))
        lim.cpu_millis = static_cast<uint32_t>(f.integer("cpu_millis", {1, kMaxCpuMillis}));
    if (f.has("cpu_weight"))
        lim.cpu_weight = static_cast<uint32_t>(f.integer("cpu_weight", {1, kMaxCpuWeight}));
    if (f.has("pids_max"))
        lim.pids_max = static_cast<uint32_t>(f.integer("pids_max", {1, kMaxPids}));
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
            app.supplementary_gids.push_back(
                static_cast<uint32_t>(f.checked_integer(g, "supplementary_gids", {0, kMaxId})));
    }
    app.working_dir = f.string_or("working_dir", "/");
    app.disk = static_cast<uint32_t>(f.integer("disk", {0, kMaxDiskIndex}));
    app.disk_serial = f.string_or("disk_serial", "");
    if (f.has("verity")) {
        Fields v(f.raw("verity"), f.where() + ".verity");
        constexpr auto kMax = static_cast<int64_t>(2 * kMaxVerityDataBlocks);
        DiskVerity dv;
        dv.data_blocks = static_cast<uint64_t>(v.integer("data_blocks", {1, kMax}));
        dv.hash_start_block = static_cast<uint64_t>(v.integer("hash_start_block", {1, kMax}));
        dv.root_hash = v.string("root_hash");
        dv.salt = v.string("salt");
        v.finish();
        app.verity = std::move(dv);
    }
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

InterfaceSpec interface_from_json(const json& j, size_t index) {
    Fields f(j, "pod spec: interfaces[" + std::to_string(index) + "]");
    InterfaceSpec ifc;
    ifc.name = f.string("name");
    ifc.mac = f.string("mac");
    ifc.mtu = static_cast<uint32_t>(f.integer_or("mtu", {kMinMtu, kMaxMtu}, 1500));
    ifc.addresses = f.strings_or_empty("addresses");
    if (f.has("routes")) {
        size_t i = 0;
        for (const auto& jr : f.array("routes")) {
            Fields r(jr, f.where() + ".routes[" + std::to_string(i++) + "]");
            RouteSpec rs;
            rs.destination = r.string("destination");
            rs.gateway = r.string_or("gateway", "");
            rs.metric = static_cast<uint32_t>(r.integer_or("metric", {0, UINT32_MAX}, 0));
            r.finish();
            ifc.routes.push_back(std::move(rs));
        }
    }
    f.finish();
    return ifc;
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
                    v.integer_or("mode", {0, kMaxVolumeMode}, kDefaultVolumeMode));
                vs.uid = static_cast<uint32_t>(v.integer_or("uid", {0, kMaxId}, 0));
                vs.gid = static_cast<uint32_t>(v.integer_or("gid", {0, kMaxId}, 0));
            } else {
                v.fail("kind must be \"9p\" or \"empty\"");
            }
            vs.read_only = v.boolean_or("read_only", false);
            v.finish();
            spec.volumes.push_back(std::move(vs));
        }
    }
    spec.stop_grace_ms = static_cast<uint32_t>(
        f.integer_or("stop_grace_ms", {0, kMaxStopGraceMs}, kDefaultStopGraceMs));
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
        dns.domain = d.string_or("domain", "");
        d.finish();
        spec.dns = std::move(dns);
    }
    if (f.has("interfaces")) {
        const json& interfaces = f.array("interfaces");
        if (interfaces.size() > kMaxInterfaces)
            f.fail("more than " + std::to_string(kMaxInterfaces) + " interfaces");
        i = 0;
        for (const auto& ji : interfaces) spec.interfaces.push_back(interface_from_json(ji, i++));
    }
    spec.debug = f.boolean_or("debug", false);
    f.finish();
    validate_pod_spec(spec);
    return spec;
}

}  // namespace

void validate_pod_spec(const PodSpec& spec) {
    if (!strings::is_valid_hostname(spec.hostname))
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
        const std::string& domain = spec.dns->domain;
        if (!domain.empty() && !strings::is_valid_hostname(domain))
            invalid("pod spec: dns", "domain \"" + strings::printable(domain, 80) +
                                         "\" is not a valid domain name (letters, digits, "
                                         "dashes, dots)");
    }
    validate_interfaces(spec.interfaces);
}

void encode_body(const PodSpec& spec, Frame& frame) {
    validate_pod_spec(spec);
    frame.json = dump_json(to_json(spec), Utf8::kStrict);
}

void decode_body(const Frame& frame, PodSpec& spec) {
    const json body = parse_body(frame);
    spec = pod_spec_from_json(body);
}

}  // namespace rkt::guest
