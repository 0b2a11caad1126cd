// Replaying a log: the PCR values here are computed as the TPM computes them.
#include "stage0/tpm/log_verify.h"

#include <gtest/gtest.h>

#include "stage0/tpm/bank_hash.h"

namespace rkt::tpm {
namespace {

struct Built {
    EventLog log;
    std::vector<BankValue> pcr;  // what the TPM would hold
};

Built build(int events) {
    Built b;
    b.log.header = {23, "sha256:tpm", {1, 0}, {{"sha256", reset_value("sha256")}}};
    b.pcr = b.log.header.pcr_start;
    for (int i = 1; i <= events; ++i) {
        LogEvent e;
        e.recnum = static_cast<uint64_t>(i);
        e.pcr = 23;
        e.content = {{"pod", "pod-" + std::to_string(i)}, {"kind", "image"}, {"app", "a"}};
        e.digests = content_digests(e.content, {"sha256"});
        b.pcr[0].bytes = extended("sha256", b.pcr[0].bytes, e.digests[0].bytes);
        e.pcr_after = b.pcr;
        b.log.events.push_back(e);
    }
    return b;
}

TEST(LogVerify, MatchesTheReplay) {
    Built b = build(5);
    VerifyResult r = verify_log(b.log, {b.pcr, std::string("sha256:tpm"), BootCounters{1, 0}});
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.replayed[0].bytes, b.pcr[0].bytes);
}

TEST(LogVerify, ExtendOfKnownValueMatchesSha256OfConcatenation) {
    std::vector<uint8_t> zero(32, 0), one = bank_digest("sha256", "x");
    std::string joined(64, '\0');
    std::copy(one.begin(), one.end(), joined.begin() + 32);
    EXPECT_EQ(extended("sha256", zero, one), bank_digest("sha256", joined));
}

TEST(LogVerify, NamesTheChangedRecord) {
    Built b = build(5);
    b.log.events[2].content["app"] = "evil";
    VerifyResult r = verify_log(b.log, {b.pcr, std::nullopt, std::nullopt});
    EXPECT_FALSE(r.ok);
    ASSERT_TRUE(r.broken);
    EXPECT_EQ(*r.broken, 3u);
    EXPECT_NE(r.message.find("record 3 (pod pod-3, image of app evil) was changed"),
              std::string::npos)
        << r.message;
}

TEST(LogVerify, NamesTheRecordAfterAMissingOne) {
    Built b = build(5);
    b.log.events.erase(b.log.events.begin() + 1);
    VerifyResult r = verify_log(b.log, {b.pcr, std::nullopt, std::nullopt});
    EXPECT_FALSE(r.ok);
    ASSERT_TRUE(r.broken);
    EXPECT_EQ(*r.broken, 3u);
    EXPECT_NE(r.message.find("does not follow"), std::string::npos) << r.message;
}

TEST(LogVerify, UnloggedExtendIsFound) {
    Built b = build(2);
    b.pcr[0].bytes = extended("sha256", b.pcr[0].bytes, bank_digest("sha256", "unlogged"));
    VerifyResult r = verify_log(b.log, {b.pcr, std::nullopt, std::nullopt});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.message.find("after record 2"), std::string::npos) << r.message;
}

TEST(LogVerify, OtherTpmAndOtherBootAreRefused) {
    Built b = build(1);
    EXPECT_NE(verify_log(b.log, {b.pcr, std::string("sha256:other"), std::nullopt})
                  .message.find("another TPM"),
              std::string::npos);
    EXPECT_NE(
        verify_log(b.log, {b.pcr, std::nullopt, BootCounters{2, 0}}).message.find("earlier boot"),
        std::string::npos);
}

TEST(LogVerify, OfflineNeedsAValueOfTheLogsBanks) {
    Built b = build(1);
    VerifyResult r =
        verify_log(b.log, {{{"sha1", reset_value("sha1")}}, std::nullopt, std::nullopt});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.message.find("no PCR value"), std::string::npos);
}

}  // namespace
}  // namespace rkt::tpm
