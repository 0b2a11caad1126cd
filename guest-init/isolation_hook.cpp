#include "guest-init/isolation_hook.h"

#include <grp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <set>

#include "common/error.h"

namespace rkt::guest_init {

namespace {

// Keeps only `keep` in the bounding set and clears the inheritable and ambient sets, so that
// exec gives a root app exactly `keep` and a non-root app nothing beyond its file capabilities
// (themselves limited by the bounding set).
void restrict_capabilities(const std::vector<std::string>& keep) {
    std::set<cap_value_t> kept;
    for (const auto& name : keep) {
        cap_value_t value;
        if (::cap_from_name(name.c_str(), &value) < 0)
            throw Error("unknown capability " + name +
                        " (not known to this guest kernel's libcap)");
        kept.insert(value);
    }
    // cap_max_bits() is what the running kernel knows, so new capabilities are dropped too.
    for (cap_value_t c = 0; c < static_cast<cap_value_t>(::cap_max_bits()); ++c) {
        if (kept.count(c)) continue;
        if (::cap_drop_bound(c) < 0 && errno != EINVAL)
            throw system_error("cannot drop capability " + std::to_string(c) +
                               " from the bounding set");
    }
    if (::cap_reset_ambient() < 0 && errno != EINVAL)
        throw system_error("cannot clear the ambient capabilities");
    cap_t caps = ::cap_get_proc();
    if (!caps) throw system_error("cannot read the process capabilities");
    int rc = ::cap_clear_flag(caps, CAP_INHERITABLE);
    if (rc == 0) rc = ::cap_set_proc(caps);
    int err = errno;
    ::cap_free(caps);
    if (rc < 0) throw system_error("cannot clear the inheritable capabilities", err);
}

void set_credentials(const AppCredentials& c) {
    check_sys(::setgroups(c.supplementary_gids.size(), c.supplementary_gids.data()),
              "cannot set the supplementary groups");
    check_sys(::setresgid(c.gid, c.gid, c.gid), "cannot set gid " + std::to_string(c.gid));
    check_sys(::setresuid(c.uid, c.uid, c.uid), "cannot set uid " + std::to_string(c.uid));
}

// ISOLATION HOOK (masked paths): call the shared masked-path code of common/isolation here.
// Runs after pivot_root with the app's /proc and /sys mounted, while still root.
void apply_masked_paths(const guest::IsolationSettings& /*isolation*/) {}

// ISOLATION HOOK (seccomp): build and load the shared seccomp filter (common/isolation,
// libseccomp) here. It is the last step before exec, after no_new_privs.
void install_seccomp_filter(const guest::IsolationSettings& /*isolation*/) {}

}  // namespace

void enter_app_security_context(const guest::IsolationSettings& isolation,
                                const AppCredentials& credentials) {
    if (isolation.masked_paths) apply_masked_paths(isolation);
    if (isolation.capabilities) restrict_capabilities(*isolation.capabilities);
    set_credentials(credentials);
    if (isolation.no_new_privileges)
        check_sys(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "cannot set no_new_privs");
    if (isolation.seccomp) install_seccomp_filter(isolation);
}

std::vector<std::string> isolation_gaps(const guest::IsolationSettings& isolation) {
    std::vector<std::string> gaps;
    if (isolation.masked_paths)
        gaps.push_back("masked /proc and /sys paths are not applied in this build of guest-init");
    if (isolation.seccomp)
        gaps.push_back("the seccomp filter is not applied in this build of guest-init");
    return gaps;
}

}  // namespace rkt::guest_init
