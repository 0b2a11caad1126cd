// Building an app's isolation Policy from its appc isolators and rkt's command-line flags.
#include <linux/capability.h>
#include <seccomp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>

#include "common/error.h"
#include "common/isolation.h"
#include "common/strings.h"

namespace rkt::isolation {

using nlohmann::json;

namespace {

// Always allowed in retain mode, as systemd did for rkt: without them an app can neither start
// nor end, whatever its list says.
constexpr const char* kImplicitlyRetained[] = {"execve", "exit", "exit_group", "rt_sigreturn"};

const Isolator* find_unique(const std::vector<Isolator>& isolators, std::string_view name) {
    const Isolator* found = nullptr;
    for (const auto& i : isolators) {
        if (i.name != name) continue;
        if (found) throw Error("isolator " + std::string(name) + " is given more than once");
        found = &i;
    }
    return found;
}

// The "set" array of a capability or seccomp isolator.
std::vector<std::string> set_of(const Isolator& isolator) {
    const json& v = isolator.value;
    auto fail = [&]() -> Error {
        return Error("isolator " + isolator.name +
                     ": value must be an object like {\"set\": [\"NAME\", ...]}");
    };
    if (!v.is_object()) throw fail();
    auto it = v.find("set");
    if (it == v.end() || !it->is_array()) throw fail();
    std::vector<std::string> out;
    for (const auto& e : *it) {
        if (!e.is_string()) throw fail();
        out.push_back(e.get<std::string>());
    }
    return out;
}

void check_syscall_name(const std::string& name) {
    // Names of other architectures (e.g. "_llseek" on x86-64) resolve to libseccomp's
    // pseudo-numbers, which is fine: the filter covers the 32-bit ABIs too.
    if (seccomp_syscall_resolve_name(name.c_str()) == __NR_SCMP_ERROR)
        throw Error("unknown system call \"" + name + "\"");
}

CapabilitySet capabilities_policy(const std::vector<Isolator>& isolators, bool* granted) {
    const Isolator* retain = find_unique(isolators, kCapsRetainIsolator);
    const Isolator* remove = find_unique(isolators, kCapsRemoveIsolator);
    if (retain && remove)
        throw Error(std::string(kCapsRetainIsolator) + " and " + std::string(kCapsRemoveIsolator) +
                    " cannot be used together");
    if (retain) {
        *granted = true;
        return with_context(retain->name,
                            [&] { return CapabilitySet::from_names(set_of(*retain)); });
    }
    CapabilitySet caps = CapabilitySet::defaults();
    if (remove) {
        CapabilitySet removed =
            with_context(remove->name, [&] { return CapabilitySet::from_names(set_of(*remove)); });
        for (int cap = 0; cap < 64; ++cap)
            if (removed.has(cap)) caps.remove(cap);
    }
    return caps;
}

// Adds a group's names. Allow-lists keep Docker's argument checks on the calls that came from
// a group: personality always, clone unless the app holds CAP_SYS_ADMIN (namespaces).
void add_group(SeccompPolicy& policy, const std::string& group, const CapabilitySet& caps) {
    for (auto& name : syscall_group(group, caps)) {
        if (policy.mode == SeccompMode::kRetain &&
            (name == "personality" || (name == "clone" && !caps.has(CAP_SYS_ADMIN))))
            policy.argument_filtered.insert(name);
        policy.syscalls.insert(std::move(name));
    }
}

SeccompPolicy seccomp_from_isolator(const Isolator& isolator, SeccompMode mode,
                                    const CapabilitySet& caps) {
    SeccompPolicy policy;
    policy.mode = mode;
    std::set<std::string> explicit_names;
    for (const auto& entry : set_of(isolator)) {
        std::string name = strings::trim(entry);
        if (name == "@appc.io/all") {
            policy.all = true;
        } else if (!name.empty() && name[0] == '@') {
            add_group(policy, name, caps);
        } else {
            check_syscall_name(name);
            explicit_names.insert(name);
            policy.syscalls.insert(name);
        }
    }
    // A name given explicitly is allowed (or denied) without argument checks.
    for (const auto& name : explicit_names) policy.argument_filtered.erase(name);
    auto errno_it = isolator.value.find("errno");
    if (errno_it != isolator.value.end() && !errno_it->is_null()) {
        if (!errno_it->is_string()) throw Error("errno must be a name such as \"EPERM\"");
        policy.errno_code = errno_from_name(errno_it->get<std::string>());
    }
    if (mode == SeccompMode::kRetain && !policy.all)
        for (const char* name : kImplicitlyRetained) policy.syscalls.insert(name);
    if (policy.all) {
        policy.syscalls.clear();
        policy.argument_filtered.clear();
    }
    return policy;
}

std::optional<SeccompPolicy> seccomp_policy(const std::vector<Isolator>& isolators,
                                            const CapabilitySet& caps) {
    const Isolator* retain = find_unique(isolators, kSeccompRetainIsolator);
    const Isolator* remove = find_unique(isolators, kSeccompRemoveIsolator);
    if (retain && remove)
        throw Error(std::string(kSeccompRetainIsolator) + " and " +
                    std::string(kSeccompRemoveIsolator) + " cannot be used together");
    if (retain)
        return with_context(retain->name, [&] {
            return seccomp_from_isolator(*retain, SeccompMode::kRetain, caps);
        });
    if (remove)
        return with_context(remove->name, [&] {
            return seccomp_from_isolator(*remove, SeccompMode::kRemove, caps);
        });
    return default_seccomp(caps);
}

}  // namespace

SeccompPolicy default_seccomp(const CapabilitySet& caps) {
    SeccompPolicy policy;
    policy.mode = SeccompMode::kRetain;
    add_group(policy, "@docker/default-whitelist", caps);
    for (const char* name : kImplicitlyRetained) policy.syscalls.insert(name);
    return policy;
}

InsecureOptions InsecureOptions::from_names(const std::vector<std::string>& names) {
    InsecureOptions out;
    for (const auto& raw : names) {
        std::string name = strings::to_lower(strings::trim(raw));
        if (name == "capabilities" || name == "all-run" || name == "all") out.capabilities = true;
        if (name == "seccomp" || name == "all-run" || name == "all") out.seccomp = true;
        if (name == "paths" || name == "all-run" || name == "all") out.paths = true;
    }
    return out;
}

CapabilitySet CapabilitySet::defaults() {
    CapabilitySet s;
    for (int cap : {CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_KILL,
                    CAP_MKNOD, CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID,
                    CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT})
        s.add(cap);
    return s;
}

CapabilitySet CapabilitySet::all() {
    int last = last_capability();
    return CapabilitySet(last >= 63 ? ~uint64_t{0} : (uint64_t{1} << (last + 1)) - 1);
}

CapabilitySet CapabilitySet::from_names(const std::vector<std::string>& names) {
    CapabilitySet s;
    for (const auto& n : names) s.add(capability_from_name(n));
    return s;
}

std::vector<std::string> CapabilitySet::names() const {
    std::vector<std::string> out;
    for (int cap = 0; cap < 64; ++cap)
        if (has(cap)) out.push_back(capability_name(cap));
    return out;
}

Policy policy_from_isolators(const std::vector<Isolator>& isolators,
                             const InsecureOptions& insecure) {
    Policy policy;
    bool granted = false;
    CapabilitySet caps = capabilities_policy(isolators, &granted);
    // Validated even when lifted, so a typo is reported whatever the options.
    std::optional<SeccompPolicy> seccomp =
        seccomp_policy(isolators, insecure.capabilities ? CapabilitySet::all() : caps);

    if (insecure.capabilities) {
        policy.capabilities = std::nullopt;
    } else {
        policy.capabilities = caps;
        policy.capabilities_granted_to_non_root = granted;
    }
    if (insecure.seccomp || (seccomp && seccomp->mode == SeccompMode::kRetain && seccomp->all))
        policy.seccomp = std::nullopt;
    else
        policy.seccomp = std::move(seccomp);
    policy.mask_paths = !insecure.paths;

    if (const Isolator* nnp = find_unique(isolators, kNoNewPrivsIsolator)) {
        if (!nnp->value.is_boolean())
            throw Error(std::string(kNoNewPrivsIsolator) + ": value must be true or false");
        policy.no_new_privileges = nnp->value.get<bool>();
    }
    if (const Isolator* oom = find_unique(isolators, kOomScoreAdjIsolator)) {
        if (!oom->value.is_number_integer() || oom->value.get<int64_t>() < -1000 ||
            oom->value.get<int64_t>() > 1000)
            throw Error(std::string(kOomScoreAdjIsolator) +
                        ": value must be a number from -1000 to 1000");
        policy.oom_score_adj = oom->value.get<int>();
    }
    // Without no_new_privs the filter is loaded while CAP_SYS_ADMIN is still held, and one
    // capset(2) follows it to drop that capability: capset must stay allowed.
    if (!policy.no_new_privileges && policy.seccomp) {
        if (policy.seccomp->mode == SeccompMode::kRetain) {
            policy.seccomp->syscalls.insert("capset");
        } else if (policy.seccomp->all || policy.seccomp->syscalls.count("capset")) {
            throw Error(
                "the seccomp remove-set denies capset, which rkt needs after loading the filter "
                "when os/linux/no-new-privileges is false; keep capset or enable "
                "no-new-privileges");
        }
    }
    return policy;
}

std::optional<uint64_t> parse_pids_limit(std::string_view text, std::string_view what) {
    if (text == "max") return std::nullopt;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > (1u << 22))
        throw Error(std::string(what) + ": \"" + std::string(text) +
                    "\" is not a pids limit (a number from 1 to 4194304, or max)");
    return n;
}

ResourceLimits resource_limits(const std::vector<Isolator>& isolators) {
    ResourceLimits out;
    auto quantity = [](const Isolator& i, const char* key) -> std::optional<std::string> {
        if (!i.value.is_object())
            throw Error("isolator " + i.name + ": value must be an object like {\"limit\": ...}");
        auto it = i.value.find(key);
        if (it == i.value.end() || it->is_null()) return std::nullopt;
        if (it->is_string()) return it->get<std::string>();
        if (it->is_number_unsigned()) return std::to_string(it->get<uint64_t>());
        throw Error("isolator " + i.name + ": \"" + key + "\" must be a quantity such as \"1G\"");
    };
    if (const Isolator* mem = find_unique(isolators, kMemoryIsolator)) {
        if (auto q = quantity(*mem, "limit")) {
            out.memory_bytes = strings::parse_memory_quantity(*q);
            if (!out.memory_bytes || *out.memory_bytes == 0)
                throw Error("isolator resource/memory: bad limit \"" + *q +
                            "\" (use a quantity such as 512Mi or 1G)");
        }
    }
    if (const Isolator* cpu = find_unique(isolators, kCpuIsolator)) {
        if (auto q = quantity(*cpu, "limit")) {
            out.cpu_millis = strings::parse_cpu_quantity(*q);
            if (!out.cpu_millis || *out.cpu_millis == 0)
                throw Error("isolator resource/cpu: bad limit \"" + *q +
                            "\" (use a quantity such as 500m or 2)");
        }
    }
    const Isolator* shares = find_unique(isolators, kCpuSharesIsolator);
    if (!shares) shares = find_unique(isolators, kCpuSharesAltIsolator);
    if (shares) {
        // A bare number (appc), or {"value": N}.
        const nlohmann::json& v = shares->value.is_object()
                                      ? shares->value.value("value", nlohmann::json())
                                      : shares->value;
        if (!v.is_number_integer() || v.get<int64_t>() < 2 || v.get<int64_t>() > 262144)
            throw Error("isolator " + shares->name + ": value must be a number from 2 to 262144");
        out.cpu_shares = v.get<uint64_t>();
    }
    if (const Isolator* pids = find_unique(isolators, kPidsIsolator)) {
        std::string what = "isolator " + std::string(kPidsIsolator);
        if (!pids->value.is_object() || !pids->value.contains("limit"))
            throw Error(what + ": value must be an object like {\"limit\": 100}");
        const nlohmann::json& limit = pids->value["limit"];
        if (limit.is_string())
            out.pids_max = parse_pids_limit(limit.get<std::string>(), what);
        else if (limit.is_number_integer())
            out.pids_max = parse_pids_limit(std::to_string(limit.get<int64_t>()), what);
        else
            throw Error(what + ": \"limit\" must be a number or \"max\"");
    }
    return out;
}

std::vector<Isolator> isolators_from_flags(const IsolatorFlags& flags) {
    std::vector<Isolator> out;
    if (flags.caps_retain && flags.caps_remove)
        throw Error("--caps-retain and --caps-remove cannot be used together");
    auto caps_isolator = [&](const std::string& value, std::string_view flag,
                             std::string_view name) {
        json set = json::array();
        for (const auto& item : strings::split(value, ',')) {
            std::string trimmed = strings::trim(item);
            if (trimmed.empty()) continue;
            int cap = with_context(flag, [&] { return capability_from_name(trimmed); });
            set.push_back(capability_name(cap));
        }
        out.push_back({std::string(name), json{{"set", set}}});
    };
    if (flags.caps_retain) caps_isolator(*flags.caps_retain, "--caps-retain", kCapsRetainIsolator);
    if (flags.caps_remove) caps_isolator(*flags.caps_remove, "--caps-remove", kCapsRemoveIsolator);

    if (flags.seccomp) {
        std::optional<std::string> mode;
        std::optional<std::string> errno_value;
        json set = json::array();
        for (const auto& item : strings::split(*flags.seccomp, ',')) {
            std::string trimmed = strings::trim(item);
            if (trimmed.empty()) continue;
            if (trimmed.rfind("mode=", 0) == 0) {
                if (mode) throw Error("--seccomp: mode= is given more than once");
                mode = trimmed.substr(5);
            } else if (trimmed.rfind("errno=", 0) == 0) {
                if (errno_value) throw Error("--seccomp: errno= is given more than once");
                errno_value = trimmed.substr(6);
            } else {
                set.push_back(trimmed);
            }
        }
        if (!mode || (*mode != "retain" && *mode != "remove"))
            throw Error(
                "--seccomp: start with mode=retain or mode=remove, e.g. "
                "--seccomp=mode=remove,errno=EPERM,reboot");
        if (set.empty()) throw Error("--seccomp: name at least one system call or @group");
        json value{{"set", set}};
        if (errno_value) value["errno"] = *errno_value;
        out.push_back(
            {std::string(*mode == "retain" ? kSeccompRetainIsolator : kSeccompRemoveIsolator),
             value});
    }
    // Validate the result as the stage1 will read it, so every mistake shows up at parse time.
    with_context("--seccomp", [&] {
        std::vector<Isolator> seccomp_only;
        for (const auto& i : out)
            if (i.name == kSeccompRetainIsolator || i.name == kSeccompRemoveIsolator)
                seccomp_only.push_back(i);
        policy_from_isolators(seccomp_only, {});
    });
    return out;
}

void apply_isolator_flags(AppSpec& app, const IsolatorFlags& flags) {
    std::vector<Isolator> added = isolators_from_flags(flags);
    bool caps = flags.caps_retain || flags.caps_remove;
    bool seccomp = flags.seccomp.has_value();
    std::erase_if(app.isolators, [&](const Isolator& i) {
        return (caps && (i.name == kCapsRetainIsolator || i.name == kCapsRemoveIsolator)) ||
               (seccomp && (i.name == kSeccompRetainIsolator || i.name == kSeccompRemoveIsolator));
    });
    app.isolators.insert(app.isolators.end(), added.begin(), added.end());
}

}  // namespace rkt::isolation
