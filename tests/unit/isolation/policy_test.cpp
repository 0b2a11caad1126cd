// Building policies from isolators and flags: defaults, sets, groups, conflicts, unknown names.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <seccomp.h>

#include <cerrno>

#include "common/error.h"
#include "common/isolation.h"

using namespace rkt;
using namespace rkt::isolation;
using nlohmann::json;

namespace {

Isolator iso(std::string_view name, json value) {
    return {std::string(name), std::move(value)};
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(Capabilities, DefaultsAreTheFourteenOfAppcAndDocker) {
    std::vector<std::string> expected = {
        "CAP_CHOWN",       "CAP_DAC_OVERRIDE", "CAP_FOWNER",
        "CAP_FSETID",      "CAP_KILL",         "CAP_SETGID",
        "CAP_SETUID",      "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",     "CAP_SYS_CHROOT",   "CAP_MKNOD",
        "CAP_AUDIT_WRITE", "CAP_SETFCAP"};
    EXPECT_EQ(CapabilitySet::defaults().names(), expected);
    EXPECT_EQ(CapabilitySet::defaults().mask(), 0xa80425fbULL);
}

TEST(Capabilities, NamesInEverySpelling) {
    EXPECT_EQ(capability_from_name("CAP_NET_ADMIN"), CAP_NET_ADMIN);
    EXPECT_EQ(capability_from_name("cap_net_admin"), CAP_NET_ADMIN);
    EXPECT_EQ(capability_from_name("net_admin"), CAP_NET_ADMIN);
    EXPECT_EQ(capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
    EXPECT_EQ(capability_name(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
    std::string msg = error_of([] { capability_from_name("CAP_FLY"); });
    EXPECT_NE(msg.find("\"CAP_FLY\""), std::string::npos) << msg;
}

TEST(Policy, DefaultsWithoutIsolators) {
    Policy p = policy_from_isolators({}, {});
    ASSERT_TRUE(p.capabilities);
    EXPECT_EQ(*p.capabilities, CapabilitySet::defaults());
    EXPECT_FALSE(p.capabilities_granted_to_non_root);
    EXPECT_TRUE(p.no_new_privileges);
    EXPECT_TRUE(p.mask_paths);
    ASSERT_TRUE(p.seccomp);
    const SeccompPolicy& s = *p.seccomp;
    EXPECT_EQ(s.mode, SeccompMode::kRetain);
    EXPECT_EQ(s.errno_code, EPERM);
    for (const char* allowed : {"read", "write", "execve", "stat", "socket", "chroot", "clone"})
        EXPECT_TRUE(s.syscalls.count(allowed)) << allowed;
    // Not in Docker's list, or only with a capability outside the default set.
    for (const char* denied : {"mount", "reboot", "unshare", "setns", "ptrace", "kexec_load", "bpf",
                               "clone3", "io_uring_setup", "init_module"})
        EXPECT_FALSE(s.syscalls.count(denied)) << denied;
    EXPECT_EQ(s.argument_filtered, (std::set<std::string>{"clone", "personality"}));
}

TEST(Policy, CapabilityRetainSetReplacesTheDefaults) {
    Policy p = policy_from_isolators(
        {iso(kCapsRetainIsolator, {{"set", {"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}}})}, {});
    ASSERT_TRUE(p.capabilities);
    EXPECT_EQ(p.capabilities->names(),
              (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}));
    EXPECT_TRUE(p.capabilities_granted_to_non_root);
    // With CAP_SYS_ADMIN Docker's list allows mount, unshare and clone with any flags; without
    // CAP_SYS_CHROOT it no longer allows chroot.
    EXPECT_TRUE(p.seccomp->syscalls.count("mount"));
    EXPECT_TRUE(p.seccomp->syscalls.count("clone3"));
    EXPECT_FALSE(p.seccomp->syscalls.count("chroot"));
    EXPECT_EQ(p.seccomp->argument_filtered, std::set<std::string>{"personality"});
}

TEST(Policy, CapabilityRemoveSetSubtractsFromTheDefaults) {
    Policy p = policy_from_isolators({iso(kCapsRemoveIsolator, {{"set", {"CAP_CHOWN"}}})}, {});
    CapabilitySet expected = CapabilitySet::defaults();
    expected.remove(CAP_CHOWN);
    EXPECT_EQ(*p.capabilities, expected);
    EXPECT_FALSE(p.capabilities_granted_to_non_root);
}

TEST(Policy, CapabilityErrorsNameWhatIsWrong) {
    std::string both = error_of([] {
        policy_from_isolators({iso(kCapsRetainIsolator, {{"set", {"CAP_CHOWN"}}}),
                               iso(kCapsRemoveIsolator, {{"set", {"CAP_KILL"}}})},
                              {});
    });
    EXPECT_NE(both.find("cannot be used together"), std::string::npos) << both;
    std::string unknown = error_of([] {
        policy_from_isolators({iso(kCapsRetainIsolator, {{"set", {"CAP_NOPE"}}})}, {});
    });
    EXPECT_NE(unknown.find("CAP_NOPE"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find(kCapsRetainIsolator), std::string::npos) << unknown;
    std::string shape = error_of(
        [] { policy_from_isolators({iso(kCapsRetainIsolator, json::array({"CAP_KILL"}))}, {}); });
    EXPECT_NE(shape.find("{\"set\""), std::string::npos) << shape;
    std::string twice = error_of([] {
        policy_from_isolators({iso(kCapsRetainIsolator, {{"set", {"CAP_CHOWN"}}}),
                               iso(kCapsRetainIsolator, {{"set", {"CAP_KILL"}}})},
                              {});
    });
    EXPECT_NE(twice.find("more than once"), std::string::npos) << twice;
}

TEST(Policy, SeccompRemoveSetWithErrno) {
    Policy p = policy_from_isolators(
        {iso(kSeccompRemoveIsolator, {{"set", {"stat", "chmod"}}, {"errno", "EXFULL"}})}, {});
    ASSERT_TRUE(p.seccomp);
    EXPECT_EQ(p.seccomp->mode, SeccompMode::kRemove);
    EXPECT_EQ(p.seccomp->syscalls, (std::set<std::string>{"chmod", "stat"}));
    EXPECT_EQ(p.seccomp->errno_code, EXFULL);
    EXPECT_FALSE(p.seccomp->all);
}

TEST(Policy, SeccompRetainSetAddsWhatEveryAppNeedsToStartAndEnd) {
    Policy p =
        policy_from_isolators({iso(kSeccompRetainIsolator, {{"set", {"@appc.io/empty"}}})}, {});
    ASSERT_TRUE(p.seccomp);
    EXPECT_EQ(p.seccomp->syscalls,
              (std::set<std::string>{"execve", "exit", "exit_group", "rt_sigreturn"}));
}

TEST(Policy, SeccompGroups) {
    Policy all_retained =
        policy_from_isolators({iso(kSeccompRetainIsolator, {{"set", {"@appc.io/all"}}})}, {});
    EXPECT_FALSE(all_retained.seccomp) << "retaining everything means no filter";

    Policy all_removed =
        policy_from_isolators({iso(kSeccompRemoveIsolator, {{"set", {"@appc.io/all"}}})}, {});
    ASSERT_TRUE(all_removed.seccomp);
    EXPECT_TRUE(all_removed.seccomp->all);

    Policy docker = policy_from_isolators(
        {iso(kSeccompRetainIsolator, {{"set", {"@docker/default-whitelist", "clone"}}})}, {});
    EXPECT_TRUE(docker.seccomp->syscalls.count("read"));
    // "clone" named explicitly: allowed without the namespace check.
    EXPECT_EQ(docker.seccomp->argument_filtered, std::set<std::string>{"personality"});

    Policy rkt_list = policy_from_isolators(
        {iso(kSeccompRetainIsolator, {{"set", {"@rkt/default-whitelist"}}})}, {});
    EXPECT_EQ(rkt_list.seccomp->syscalls, policy_from_isolators({}, {}).seccomp->syscalls);

    Policy blacklist = policy_from_isolators(
        {iso(kSeccompRemoveIsolator, {{"set", {"@rkt/default-blacklist"}}})}, {});
    EXPECT_EQ(blacklist.seccomp->syscalls.size(), 50u);
    EXPECT_TRUE(blacklist.seccomp->syscalls.count("kexec_load"));
}

TEST(Policy, SeccompErrorsNameWhatIsWrong) {
    std::string unknown = error_of([] {
        policy_from_isolators({iso(kSeccompRemoveIsolator, {{"set", {"stat", "frobnicate"}}})}, {});
    });
    EXPECT_NE(unknown.find("\"frobnicate\""), std::string::npos) << unknown;
    std::string group = error_of([] {
        policy_from_isolators({iso(kSeccompRetainIsolator, {{"set", {"@nope/list"}}})}, {});
    });
    EXPECT_NE(group.find("\"@nope/list\""), std::string::npos) << group;
    std::string err = error_of([] {
        policy_from_isolators(
            {iso(kSeccompRemoveIsolator, {{"set", {"stat"}}, {"errno", "EBOGUS"}})}, {});
    });
    EXPECT_NE(err.find("\"EBOGUS\""), std::string::npos) << err;
    std::string both = error_of([] {
        policy_from_isolators({iso(kSeccompRetainIsolator, {{"set", {"read"}}}),
                               iso(kSeccompRemoveIsolator, {{"set", {"stat"}}})},
                              {});
    });
    EXPECT_NE(both.find("cannot be used together"), std::string::npos) << both;
}

TEST(Policy, InsecureOptionsLiftEachRestriction) {
    InsecureOptions insecure = InsecureOptions::from_names({"image", "seccomp", "paths"});
    EXPECT_TRUE(insecure.seccomp);
    EXPECT_TRUE(insecure.paths);
    EXPECT_FALSE(insecure.capabilities);
    Policy p = policy_from_isolators({}, insecure);
    EXPECT_FALSE(p.seccomp);
    EXPECT_FALSE(p.mask_paths);
    EXPECT_TRUE(p.capabilities);

    Policy caps = policy_from_isolators({}, InsecureOptions::from_names({"capabilities"}));
    EXPECT_FALSE(caps.capabilities);
    // With every capability, Docker's list allows what those capabilities allow.
    EXPECT_TRUE(caps.seccomp->syscalls.count("mount"));

    InsecureOptions all = InsecureOptions::from_names({"all-run"});
    EXPECT_TRUE(all.capabilities && all.seccomp && all.paths);
    // Still validated: a typo is reported even when the filter is off.
    EXPECT_THROW(policy_from_isolators({iso(kSeccompRemoveIsolator, {{"set", {"nope"}}})}, all),
                 Error);
}

TEST(Policy, NoNewPrivilegesIsolator) {
    Policy off = policy_from_isolators({iso(kNoNewPrivsIsolator, false)}, {});
    EXPECT_FALSE(off.no_new_privileges);
    // The filter is then loaded before the last capset, so capset stays allowed...
    EXPECT_TRUE(off.seccomp->syscalls.count("capset"));
    Policy retain = policy_from_isolators(
        {iso(kNoNewPrivsIsolator, false), iso(kSeccompRetainIsolator, {{"set", {"read"}}})}, {});
    EXPECT_TRUE(retain.seccomp->syscalls.count("capset"));
    // ...and a remove-set may not deny it.
    std::string msg = error_of([] {
        policy_from_isolators(
            {iso(kNoNewPrivsIsolator, false), iso(kSeccompRemoveIsolator, {{"set", {"capset"}}})},
            {});
    });
    EXPECT_NE(msg.find("capset"), std::string::npos) << msg;
    EXPECT_THROW(policy_from_isolators({iso(kNoNewPrivsIsolator, "yes")}, {}), Error);
}

TEST(Policy, OomScoreAdj) {
    EXPECT_EQ(policy_from_isolators({iso(kOomScoreAdjIsolator, -500)}, {}).oom_score_adj, -500);
    EXPECT_THROW(policy_from_isolators({iso(kOomScoreAdjIsolator, 5000)}, {}), Error);
}

TEST(Resources, MemoryAndCpuLimits) {
    ResourceLimits r =
        resource_limits({iso(kMemoryIsolator, {{"limit", "25Mi"}}),
                         iso(kCpuIsolator, {{"request", "100m"}, {"limit", "800m"}})});
    EXPECT_EQ(r.memory_bytes, 25u * 1024 * 1024);
    EXPECT_EQ(r.cpu_millis, 800u);
    EXPECT_FALSE(resource_limits({}).memory_bytes);
    EXPECT_THROW(resource_limits({iso(kMemoryIsolator, {{"limit", "lots"}})}), Error);
    EXPECT_EQ(resource_limits({iso(kCpuSharesIsolator, 512)}).cpu_shares, 512u);
    EXPECT_EQ(resource_limits({iso(kCpuSharesAltIsolator, {{"value", 100}})}).cpu_shares, 100u);
    EXPECT_THROW(resource_limits({iso(kCpuSharesIsolator, 1)}), Error);
}

TEST(Resources, PidsLimit) {
    EXPECT_EQ(resource_limits({}).pids_max, kDefaultPidsLimit);
    EXPECT_EQ(resource_limits({iso(kPidsIsolator, {{"limit", 64}})}).pids_max, 64u);
    EXPECT_EQ(resource_limits({iso(kPidsIsolator, {{"limit", "64"}})}).pids_max, 64u);
    EXPECT_FALSE(resource_limits({iso(kPidsIsolator, {{"limit", "max"}})}).pids_max);
    EXPECT_THROW(resource_limits({iso(kPidsIsolator, {{"limit", "0"}})}), Error);
    EXPECT_THROW(resource_limits({iso(kPidsIsolator, {{"limit", "-1"}})}), Error);
    EXPECT_THROW(resource_limits({iso(kPidsIsolator, {{"limit", "12x"}})}), Error);
    EXPECT_THROW(resource_limits({iso(kPidsIsolator, {{"limit", "99999999"}})}), Error);
    EXPECT_THROW(parse_pids_limit("", "--pids-limit"), Error);
}

TEST(Flags, CapabilityFlagsBecomeIsolators) {
    auto isolators = isolators_from_flags({.caps_retain = "CAP_NET_ADMIN, cap_sys_time"});
    ASSERT_EQ(isolators.size(), 1u);
    EXPECT_EQ(isolators[0].name, kCapsRetainIsolator);
    EXPECT_EQ(isolators[0].value, (json{{"set", {"CAP_NET_ADMIN", "CAP_SYS_TIME"}}}));

    std::string both = error_of(
        [] { isolators_from_flags({.caps_retain = "CAP_KILL", .caps_remove = "CAP_CHOWN"}); });
    EXPECT_NE(both.find("--caps-retain and --caps-remove"), std::string::npos) << both;
    std::string unknown = error_of([] { isolators_from_flags({.caps_remove = "CAP_WHAT"}); });
    EXPECT_NE(unknown.find("--caps-remove"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("CAP_WHAT"), std::string::npos) << unknown;
}

TEST(Flags, SeccompFlagBecomesAnIsolator) {
    auto isolators = isolators_from_flags({.seccomp = "mode=remove,errno=EXFULL,stat"});
    ASSERT_EQ(isolators.size(), 1u);
    EXPECT_EQ(isolators[0].name, kSeccompRemoveIsolator);
    EXPECT_EQ(isolators[0].value, (json{{"set", {"stat"}}, {"errno", "EXFULL"}}));

    auto retain = isolators_from_flags({.seccomp = "mode=retain,@appc.io/all"});
    EXPECT_EQ(retain[0].name, kSeccompRetainIsolator);

    std::string no_mode = error_of([] { isolators_from_flags({.seccomp = "stat"}); });
    EXPECT_NE(no_mode.find("mode=retain or mode=remove"), std::string::npos) << no_mode;
    std::string unknown = error_of([] { isolators_from_flags({.seccomp = "mode=remove,statt"}); });
    EXPECT_NE(unknown.find("--seccomp"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("\"statt\""), std::string::npos) << unknown;
    std::string bad_errno =
        error_of([] { isolators_from_flags({.seccomp = "mode=remove,errno=EWHAT,stat"}); });
    EXPECT_NE(bad_errno.find("EWHAT"), std::string::npos) << bad_errno;
}

TEST(Flags, FlagsReplaceTheImagesIsolatorsOfTheSameKind) {
    AppSpec app;
    app.isolators = {iso(kCapsRemoveIsolator, {{"set", {"CAP_KILL"}}}),
                     iso(kSeccompRemoveIsolator, {{"set", {"stat"}}}),
                     iso(kMemoryIsolator, {{"limit", "1G"}})};
    apply_isolator_flags(app, {.caps_retain = "CAP_CHOWN"});
    ASSERT_EQ(app.isolators.size(), 3u);
    EXPECT_FALSE(app.find_isolator(std::string(kCapsRemoveIsolator)));
    EXPECT_TRUE(app.find_isolator(std::string(kCapsRetainIsolator)));
    EXPECT_TRUE(app.find_isolator(std::string(kSeccompRemoveIsolator)));
    EXPECT_TRUE(app.find_isolator(std::string(kMemoryIsolator)));
}

TEST(Syscalls, EveryNameOfTheBuiltInGroupsIsKnownToLibseccomp) {
    for (const auto& group : syscall_group_names()) {
        if (group == "@appc.io/all") continue;
        for (const auto& name : syscall_group(group, CapabilitySet::all()))
            EXPECT_NE(seccomp_syscall_resolve_name(name.c_str()), __NR_SCMP_ERROR)
                << name << " in " << group;
    }
}

TEST(Syscalls, ErrnoNames) {
    EXPECT_EQ(errno_from_name("EXFULL"), EXFULL);
    EXPECT_EQ(errno_from_name("eperm"), EPERM);
    EXPECT_EQ(errno_name(ENOSYS), "ENOSYS");
    EXPECT_THROW(errno_from_name("E_NOPE"), Error);
}

TEST(Seccomp, CompilesEveryKindOfPolicy) {
    EXPECT_GT(compile_seccomp(*policy_from_isolators({}, {}).seccomp).size(), 100u);
    SeccompPolicy deny_all;
    deny_all.mode = SeccompMode::kRemove;
    deny_all.all = true;
    EXPECT_FALSE(compile_seccomp(deny_all).empty());
    SeccompPolicy kill;
    kill.mode = SeccompMode::kRemove;
    kill.syscalls = {"stat", "_llseek"};  // _llseek exists only for the 32-bit ABI here
    kill.errno_code = 0;
    EXPECT_FALSE(compile_seccomp(kill).empty());
}

TEST(Seccomp, DefaultPolicyIsWhatAnAppWithoutIsolatorsGets) {
    EXPECT_EQ(default_seccomp(CapabilitySet::defaults()), *policy_from_isolators({}, {}).seccomp);
    EXPECT_TRUE(default_seccomp(CapabilitySet::all()).syscalls.count("mount"));
}
