// TpmDevice against a real software TPM (swtpm), checked by tpm2-tools where they are installed.
#include "stage0/tpm/tpm_device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"
#include "stage0/trust/keys.h"
#include "tests/unit/tpm/tpm_test_support.h"

namespace rkt::tpm::test {
namespace {

// PCR 16 is the debug PCR: resettable, and zero after TPM2_Startup(CLEAR).
constexpr unsigned kPcr = 16;

using ::testing::HasSubstr;

class TpmDeviceTest : public SwtpmTest {};

mode_t mode_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

TEST_F(TpmDeviceTest, BanksAreTheShaBanksAndReadGivesEachOne) {
    TpmDevice tpm(swtpm_->tcti());
    const auto banks = tpm.banks(kPcr);
    ASSERT_FALSE(banks.empty());
    EXPECT_NE(std::find(banks.begin(), banks.end(), "sha256"), banks.end());
    const auto values = tpm.read(kPcr);
    ASSERT_EQ(values.size(), banks.size());
    for (size_t i = 0; i < banks.size(); ++i) {
        EXPECT_EQ(values[i].alg, banks[i]);
        EXPECT_EQ(values[i].bytes, std::vector<uint8_t>(digest(banks[i], {}).size(), 0))
            << banks[i];
    }
}

TEST_F(TpmDeviceTest, ExtendMakesEachBankTheHashOfOldValueAndDigest) {
    TpmDevice tpm(swtpm_->tcti());
    for (int round = 0; round < 2; ++round) {
        const auto before = tpm.read(kPcr);
        std::vector<BankValue> digests;
        digests.reserve(before.size());
        for (const auto& v : before)
            digests.push_back({v.alg, digest(v.alg, bytes("event " + std::to_string(round)))});
        tpm.extend(kPcr, digests);
        const auto after = tpm.read(kPcr);
        ASSERT_EQ(after.size(), before.size());
        for (size_t i = 0; i < after.size(); ++i) {
            std::vector<uint8_t> joined = before[i].bytes;
            joined.insert(joined.end(), digests[i].bytes.begin(), digests[i].bytes.end());
            EXPECT_EQ(hex(after[i].bytes), hex(digest(after[i].alg, joined))) << after[i].alg;
        }
    }
}

TEST_F(TpmDeviceTest, ExtendRefusesADigestOfTheWrongSizeOrBank) {
    TpmDevice tpm(swtpm_->tcti());
    const auto before = tpm.read(kPcr);
    EXPECT_THAT(error_of([&] {
                    tpm.extend(kPcr, {{"sha256", std::vector<uint8_t>(20, 1)}});
                }),
                HasSubstr("32 bytes, not 20"));
    EXPECT_THROW(tpm.extend(kPcr, {{"md5", std::vector<uint8_t>(16, 1)}}), Error);
    EXPECT_THROW(tpm.extend(kPcr, {}), Error);
    EXPECT_THROW(tpm.extend(32, {{"sha256", digest("sha256", {})}}), Error);
    const auto after = tpm.read(kPcr);
    for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].bytes, before[i].bytes);
}

TEST_F(TpmDeviceTest, IdentityIsStableForOneTpmAndDiffersBetweenTwo) {
    std::string first;
    {
        TpmDevice tpm(swtpm_->tcti());
        first = tpm.identity();
        EXPECT_EQ(tpm.identity(), first);
    }
    EXPECT_TRUE(is_valid_sha256_digest(first)) << first;
    EXPECT_EQ(TpmDevice(swtpm_->tcti()).identity(), first);
    Swtpm other;
    EXPECT_NE(TpmDevice(other.tcti()).identity(), first);
}

TEST_F(TpmDeviceTest, BootCountersReadTheClock) {
    TpmDevice tpm(swtpm_->tcti());
    const BootCounters a = tpm.boot_counters();
    const BootCounters b = tpm.boot_counters();
    EXPECT_EQ(a.reset_count, b.reset_count);
    EXPECT_EQ(a.restart_count, b.restart_count);
}

TEST(TpmDeviceStartup, StartsATpmThatWasNotStarted) {
    if (!have_swtpm()) GTEST_SKIP() << "swtpm is not installed";
    Swtpm swtpm(Swtpm::Startup::kNone);
    TpmDevice tpm(swtpm.tcti());
    EXPECT_FALSE(tpm.read(kPcr).empty());
}

TEST(TpmDeviceOpen, AMissingTctiIsAClearError) {
    EXPECT_THAT(error_of([] { TpmDevice tpm("nosuchtcti:x"); }),
                HasSubstr("cannot open the TPM at nosuchtcti:x"));
}

TEST_F(TpmDeviceTest, AttestationKeyIsMadeOnceThenLoaded) {
    ScratchDir dir;
    const auto keys = dir.path() / "keys";
    std::string pem;
    {
        TpmDevice tpm(swtpm_->tcti());
        pem = tpm.attestation_key(keys);
    }
    EXPECT_EQ(trust::PublicKey::from_pem(pem).type(), "ecdsa-p256");
    EXPECT_EQ(fs::read_file(keys / "ak.pem"), pem);
    EXPECT_EQ(mode_of(keys), 0700U);
    for (const char* name : {"ak.pub", "ak.priv", "ak.pem"}) EXPECT_EQ(mode_of(keys / name), 0600U);
    const std::string pub = fs::read_file(keys / "ak.pub");

    TpmDevice tpm(swtpm_->tcti());
    EXPECT_EQ(tpm.attestation_key(keys), pem);
    EXPECT_EQ(fs::read_file(keys / "ak.pub"), pub);

    // Another TPM cannot load this one's key.
    Swtpm other;
    EXPECT_THROW(TpmDevice(other.tcti()).attestation_key(keys), Error);
}

TEST_F(TpmDeviceTest, AKeyDirWithGarbageIsAnError) {
    ScratchDir dir;
    fs::write_file(dir.path() / "ak.pub", "not a key");
    fs::write_file(dir.path() / "ak.priv", "not a key either");
    TpmDevice tpm(swtpm_->tcti());
    EXPECT_THROW(tpm.attestation_key(dir.path()), Error);
}

// tpm2_checkquote's verdict on the three files.
int checkquote(const std::filesystem::path& dir, const QuoteFiles& q,
               const std::string& nonce_hex) {
    fs::write_file(dir / "msg", std::string(q.message.begin(), q.message.end()));
    fs::write_file(dir / "sig", std::string(q.signature.begin(), q.signature.end()));
    fs::write_file(dir / "pcrs", std::string(q.pcrs.begin(), q.pcrs.end()));
    SpawnOptions opts;
    opts.capture_stdout = true;
    opts.capture_stderr = true;
    const auto result = run_command({"tpm2_checkquote", "-u", (dir / "keys/ak.pem").string(), "-m",
                                     (dir / "msg").string(), "-s", (dir / "sig").string(), "-f",
                                     (dir / "pcrs").string(), "-q", nonce_hex, "-g", "sha256"},
                                    opts);
    if (result.exit_code != 0) std::cerr << "tpm2_checkquote: " << result.output;
    return result.exit_code;
}

TEST_F(TpmDeviceTest, QuoteIsAcceptedByTpm2Checkquote) {
    if (!find_executable("tpm2_checkquote")) GTEST_SKIP() << "tpm2-tools is not installed";
    ScratchDir dir;
    TpmDevice tpm(swtpm_->tcti());
    tpm.extend(kPcr, {{"sha256", digest("sha256", bytes("measured"))}});
    const std::vector<uint8_t> nonce = bytes("a fresh nonce of the verifier");
    const QuoteFiles q = tpm.quote(dir.path() / "keys", kPcr, "sha256", nonce);
    EXPECT_EQ(checkquote(dir.path(), q, hex(nonce)), 0);

    // A different nonce, or a PCR value other than the quoted one, is refused.
    EXPECT_NE(checkquote(dir.path(), q, hex(bytes("another nonce"))), 0);
    QuoteFiles changed = q;
    changed.pcrs.at(changed.pcrs.size() - 532 + 4 + 2) ^= 1;  // first byte of the value
    EXPECT_NE(checkquote(dir.path(), changed, hex(nonce)), 0);
}

TEST_F(TpmDeviceTest, QuotePcrFileHoldsTheValueInTpm2ToolsLayout) {
    ScratchDir dir;
    TpmDevice tpm(swtpm_->tcti());
    const auto values = tpm.read(kPcr);
    const QuoteFiles q = tpm.quote(dir.path() / "keys", kPcr, "sha256", {});
    // TPML_PCR_SELECTION (4 + 16 * 8), UINT32 1, TPML_DIGEST (4 + 8 * 66).
    ASSERT_EQ(q.pcrs.size(), 132U + 4 + 532);
    EXPECT_EQ(q.pcrs[0], 1);     // one bank
    EXPECT_EQ(q.pcrs[4], 0x0b);  // TPM2_ALG_SHA256, little-endian
    EXPECT_EQ(q.pcrs[7 + kPcr / 8], 1U << (kPcr % 8));
    EXPECT_EQ(q.pcrs[132], 1);   // one TPML_DIGEST
    EXPECT_EQ(q.pcrs[136], 1);   // holding one digest
    EXPECT_EQ(q.pcrs[140], 32);  // of 32 bytes
    for (const auto& v : values) {
        if (v.alg == "sha256") {
            EXPECT_EQ(std::vector<uint8_t>(q.pcrs.begin() + 142, q.pcrs.begin() + 174), v.bytes);
        }
    }
}

TEST_F(TpmDeviceTest, QuoteRefusesALongNonceAndAnUnknownBank) {
    ScratchDir dir;
    TpmDevice tpm(swtpm_->tcti());
    EXPECT_THROW(tpm.quote(dir.path(), kPcr, "sha256", std::vector<uint8_t>(65, 7)), Error);
    EXPECT_THROW(tpm.quote(dir.path(), kPcr, "md5", {}), Error);
}

}  // namespace
}  // namespace rkt::tpm::test
