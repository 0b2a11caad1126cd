// The guest protocol's parts: every message's encoder and decoder run the same rule (a message
// the peer would refuse is never sent), and IsolationSettings ↔ isolation::Policy is one
// conversion pair that loses nothing, on the wire too.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/guest_protocol.h"
#include "common/guest_protocol/isolation_policy.h"
#include "common/isolation.h"

namespace rkt::guest {
namespace {

std::string encode_error(const Message& m) {
    try {
        to_frame(m);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::string decode_error(MessageType type, const std::string& json) {
    Frame f;
    f.type = type;
    f.sequence = 1;
    f.json = json;
    try {
        decode_message(f);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Each message the old encoders let through although every decoder refused it, and the JSON
// such a message would have been: both sides now refuse it, with the same words.
TEST(GuestProtocolRules, EncoderAndDecoderRefuseAlike) {
    struct Case {
        Message message;
        std::string json;
    };
    const std::vector<Case> cases = {
        {AppStarted{"web", 0}, R"({"app":"web","pid":0})"},
        {AppStarted{"web", -5}, R"({"app":"web","pid":-5})"},
        {AppStarted{"Web", 5}, R"({"app":"Web","pid":5})"},
        {AppOutput{"../x", Stream::kStdout, ""}, R"({"app":"../x","stream":"stdout"})"},
        {AppExited{"web", 256, 0, ""}, R"({"app":"web","exit_code":256})"},
        {AppExited{"web", -1, 0, ""}, R"({"app":"web","exit_code":-1})"},
        {AppExited{"web", 1, 65, ""}, R"({"app":"web","exit_code":1,"signal":65})"},
        {AppExited{"web", 0, 0, "", true}, R"({"app":"web","exit_code":0,"oom_killed":true})"},
        {PodExited{256}, R"({"exit_code":256})"},
        {PodExited{-1}, R"({"exit_code":-1})"},
        {SignalApps{"", 65}, R"({"app":"","signal":65})"},
        {SignalApps{"A", 9}, R"({"app":"A","signal":9})"},
        {Exec{0, "web", {"/x"}}, R"({"id":0,"app":"web","exec":["/x"]})"},
        {Exec{1, "web", {}}, R"({"id":1,"app":"web","exec":[]})"},
        {ExecSignal{1, 0}, R"({"id":1,"signal":0})"},
        {ExecStarted{1, 0}, R"({"id":1,"pid":0})"},
        {ExecOutput{0, Stream::kStdout, ""}, R"({"id":0,"stream":"stdout"})"},
        {ExecExited{1, 300, 0, ""}, R"({"id":1,"exit_code":300})"},
        {ExecExited{1, 1, 99, ""}, R"({"id":1,"exit_code":1,"signal":99})"},
    };
    for (const auto& c : cases) {
        const MessageType type = message_type(c.message);
        std::string encoded = encode_error(c.message);
        EXPECT_NE(encoded, "") << message_type_name(type) << " " << c.json << " was encoded";
        EXPECT_EQ(encoded, decode_error(type, c.json)) << c.json;
    }
}

TEST(GuestProtocolRules, BoundaryValuesPassBothWays) {
    const std::vector<Message> good = {
        AppStarted{"web", INT32_MAX},   AppExited{"web", 255, 64, ""}, PodExited{255},
        SignalApps{"web", 64},          ExecSignal{INT32_MAX, 1},      ExecStarted{1, 1},
        ExecExited{INT32_MAX, 0, 0, ""}};
    for (const auto& m : good) EXPECT_EQ(decode_message(to_frame(m)), m);
}

std::vector<isolation::Policy> sample_policies() {
    std::vector<isolation::Policy> policies;
    policies.push_back(isolation::policy_from_isolators({}, {}));  // rkt's defaults
    policies.push_back(isolation::policy_from_isolators(
        {{std::string(isolation::kCapsRetainIsolator), {{"set", {"CAP_NET_ADMIN", "CAP_KILL"}}}},
         {std::string(isolation::kSeccompRemoveIsolator),
          {{"set", {"reboot", "@docker/default-blacklist"}}, {"errno", "ENOTSUP"}}},
         {std::string(isolation::kOomScoreAdjIsolator), -250}},
        {}));
    isolation::InsecureOptions insecure;
    insecure.capabilities = insecure.seccomp = insecure.paths = true;
    policies.push_back(isolation::policy_from_isolators({}, insecure));  // nothing restricted
    isolation::Policy by_hand;
    by_hand.capabilities = isolation::CapabilitySet{};  // an empty bounding set
    by_hand.seccomp = isolation::SeccompPolicy{isolation::SeccompMode::kRemove, true, {}, {}, 0};
    by_hand.mask_paths = false;
    by_hand.no_new_privileges = false;
    by_hand.oom_score_adj = 1000;
    policies.push_back(by_hand);
    return policies;
}

TEST(GuestProtocolIsolation, PolicySurvivesTheWire) {
    for (const auto& policy : sample_policies()) {
        IsolationSettings settings = settings_from_policy(policy);
        EXPECT_EQ(policy_from_settings(settings), policy);
        // Through a PodSpec frame too: what guest-init applies is what the host computed.
        PodSpec spec;
        spec.hostname = "rkt-test";
        GuestApp app;
        app.name = "web";
        app.exec = {"/bin/true"};
        app.isolation = settings;
        spec.apps.push_back(app);
        auto back = std::get<PodSpec>(decode_message(to_frame(spec)));
        EXPECT_EQ(back.apps.at(0).isolation, settings);
        EXPECT_EQ(policy_from_settings(back.apps.at(0).isolation), policy);
    }
}

TEST(GuestProtocolIsolation, SettingsSurviveThePolicy) {
    IsolationSettings settings;
    settings.capabilities = std::vector<std::string>{"CAP_CHOWN", "CAP_SYS_ADMIN"};  // number order
    settings.capabilities_granted_to_non_root = true;
    settings.seccomp = SeccompSettings{
        SeccompSettings::Mode::kRetain, false, {"clone", "read", "write"}, {"clone"}, 38};
    settings.masked_paths = false;
    settings.oom_score_adj = -1000;
    EXPECT_EQ(settings_from_policy(policy_from_settings(settings)), settings);
    settings.capabilities.reset();
    settings.seccomp.reset();
    EXPECT_EQ(settings_from_policy(policy_from_settings(settings)), settings);
}

}  // namespace
}  // namespace rkt::guest
