#include "common/guest_protocol/isolation_policy.h"

namespace rkt::guest {

namespace {

SeccompSettings::Mode to_wire(isolation::SeccompMode mode) {
    return mode == isolation::SeccompMode::kRetain ? SeccompSettings::Mode::kRetain
                                                   : SeccompSettings::Mode::kRemove;
}

isolation::SeccompMode from_wire(SeccompSettings::Mode mode) {
    return mode == SeccompSettings::Mode::kRetain ? isolation::SeccompMode::kRetain
                                                  : isolation::SeccompMode::kRemove;
}

}  // namespace

IsolationSettings settings_from_policy(const isolation::Policy& policy) {
    IsolationSettings s;
    if (policy.capabilities) s.capabilities = policy.capabilities->names();
    s.capabilities_granted_to_non_root = policy.capabilities_granted_to_non_root;
    if (const auto& p = policy.seccomp) {
        SeccompSettings sc;
        sc.mode = to_wire(p->mode);
        sc.all = p->all;
        sc.syscalls.assign(p->syscalls.begin(), p->syscalls.end());
        sc.argument_filtered.assign(p->argument_filtered.begin(), p->argument_filtered.end());
        sc.errno_value = p->errno_code;
        s.seccomp = std::move(sc);
    }
    s.masked_paths = policy.mask_paths;
    s.no_new_privileges = policy.no_new_privileges;
    s.oom_score_adj = policy.oom_score_adj;
    return s;
}

isolation::Policy policy_from_settings(const IsolationSettings& settings) {
    isolation::Policy policy;
    if (settings.capabilities)
        policy.capabilities = isolation::CapabilitySet::from_names(*settings.capabilities);
    else
        policy.capabilities.reset();
    policy.capabilities_granted_to_non_root = settings.capabilities_granted_to_non_root;
    if (const auto& s = settings.seccomp) {
        isolation::SeccompPolicy sp;
        sp.mode = from_wire(s->mode);
        sp.all = s->all;
        sp.syscalls.insert(s->syscalls.begin(), s->syscalls.end());
        sp.argument_filtered.insert(s->argument_filtered.begin(), s->argument_filtered.end());
        sp.errno_code = s->errno_value;
        policy.seccomp = std::move(sp);
    }
    policy.mask_paths = settings.masked_paths;
    policy.no_new_privileges = settings.no_new_privileges;
    policy.oom_score_adj = settings.oom_score_adj;
    return policy;
}

}  // namespace rkt::guest
