// The seccomp programs built into rkt: the same bytes libseccomp makes, for the policies apps
// without seccomp isolators get; any other policy is compiled as before.
#include <gtest/gtest.h>

#include <cstring>

#include "common/isolation.h"
#include "common/isolation_seccomp_builtin.h"

using namespace rkt::isolation;

namespace {

bool same_program(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof a[0]) == 0;
}

}  // namespace

TEST(SeccompBuiltin, HoldsTheDefaultPolicies) {
    EXPECT_EQ(builtin_seccomp_programs().size(), builtin_seccomp_policies().size());
    EXPECT_EQ(builtin_seccomp_policies().front(), *policy_from_isolators({}, {}).seccomp);
}

TEST(SeccompBuiltin, ProgramsAreWhatLibseccompCompiles) {
    for (const auto& policy : builtin_seccomp_policies())
        EXPECT_TRUE(same_program(compile_seccomp(policy), compile_seccomp_with_libseccomp(policy)));
}

TEST(SeccompBuiltin, ProgramsAreUsedForTheirPoliciesOnly) {
    const auto& builtin = builtin_seccomp_programs().front();
    SeccompPolicy policy = builtin_seccomp_policies().front();
    std::vector<sock_filter> program = compile_seccomp(policy);
    ASSERT_EQ(program.size(), builtin.program.size());
    EXPECT_EQ(
        std::memcmp(program.data(), builtin.program.data(), program.size() * sizeof program[0]), 0);

    // One name more, another errno, another mode: each is a different program.
    SeccompPolicy more = policy;
    more.syscalls.insert("reboot");
    EXPECT_FALSE(same_program(compile_seccomp(more), program));
    EXPECT_TRUE(same_program(compile_seccomp(more), compile_seccomp_with_libseccomp(more)));
    SeccompPolicy other_errno = policy;
    other_errno.errno_code = 38;  // ENOSYS
    EXPECT_FALSE(same_program(compile_seccomp(other_errno), program));
    SeccompPolicy unfiltered = policy;
    unfiltered.argument_filtered.clear();
    EXPECT_FALSE(same_program(compile_seccomp(unfiltered), program));
}
