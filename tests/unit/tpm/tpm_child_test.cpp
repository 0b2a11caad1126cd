// TpmChild: the TPM through a forked child, with a deadline that holds against a TPM that never
// answers.
#include "stage0/tpm/tpm_child.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <memory>

#include "common/digest.h"
#include "common/error.h"
#include "tests/unit/tpm/tpm_test_support.h"

namespace rkt::tpm::test {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr unsigned kPcr = 16;
constexpr milliseconds kDeadline{10000};
constexpr milliseconds kShortDeadline{500};

bool no_children_left() {
    int status = 0;
    return ::waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

bool process_gone(pid_t pid) {
    return ::kill(pid, 0) < 0 && errno == ESRCH;
}

class TpmChildTest : public SwtpmTest {};

TEST_F(TpmChildTest, AnswersAsTheDeviceDoes) {
    ScratchDir dir;
    std::string identity;
    std::string pem;
    {
        // swtpm serves one connection at a time: the device and the child take turns.
        TpmDevice tpm(swtpm_->tcti());
        identity = tpm.identity();
        pem = tpm.attestation_key(dir.path());
    }
    pid_t pid = -1;
    {
        TpmChild child(swtpm_->tcti(), kDeadline);
        pid = child.pid();
        EXPECT_GT(pid, 0);
        EXPECT_EQ(child.identity(), identity);
        EXPECT_EQ(child.attestation_key(dir.path()), pem);
        const auto banks = child.banks(kPcr);
        const auto before = child.read(kPcr);
        ASSERT_EQ(before.size(), banks.size());
        std::vector<BankValue> digests;
        digests.reserve(before.size());
        for (const auto& v : before) digests.push_back({v.alg, digest(v.alg, bytes("x"))});
        child.extend(kPcr, digests);
        const auto after = child.read(kPcr);
        for (size_t i = 0; i < after.size(); ++i) {
            std::vector<uint8_t> joined = before[i].bytes;
            joined.insert(joined.end(), digests[i].bytes.begin(), digests[i].bytes.end());
            EXPECT_EQ(after[i].bytes, digest(after[i].alg, joined));
        }
        const BootCounters counters = child.boot_counters();
        EXPECT_EQ(child.boot_counters().reset_count, counters.reset_count);
        const QuoteFiles q = child.quote(dir.path(), kPcr, "sha256", bytes("nonce"));
        EXPECT_FALSE(q.message.empty());
        EXPECT_FALSE(q.signature.empty());
        EXPECT_EQ(q.pcrs.size(), 668U);
    }
    EXPECT_TRUE(process_gone(pid));
}

TEST_F(TpmChildTest, TheChildsErrorsComeBackAndItCarriesOn) {
    TpmChild child(swtpm_->tcti(), kDeadline);
    EXPECT_THAT(error_of([&] {
                    child.extend(kPcr, {{"sha256", std::vector<uint8_t>(3, 0)}});
                }),
                HasSubstr("32 bytes, not 3"));
    EXPECT_THROW(child.quote("/nonexistent-dir/\xff", kPcr, "sha256", std::vector<uint8_t>(65)),
                 Error);
    EXPECT_FALSE(child.read(kPcr).empty());
}

TEST_F(TpmChildTest, ATpmThatStopsAnsweringTimesOutAndTheChildIsReaped) {
    TpmChild child(swtpm_->tcti(), kShortDeadline);
    const pid_t pid = child.pid();
    EXPECT_FALSE(child.banks(kPcr).empty());
    swtpm_->pause();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT(error_of([&] { child.read(kPcr); }), HasSubstr("did not answer within 0.5 s"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_EQ(child.pid(), -1);
    EXPECT_TRUE(process_gone(pid));
    EXPECT_THROW(child.identity(), Error);  // and it stays unusable
    swtpm_->resume();
}

TEST_F(TpmChildTest, TheChildDiesWithItsParent) {
    // A helper process opens a TpmChild, says the child's pid, and when told asks it for a PCR:
    // the TPM is paused by then, so the child is stuck in tss2 when the helper is killed. Only
    // the parent-death signal ends it (the channel's end of file is not read).
    std::array<int, 2> up{};
    std::array<int, 2> down{};
    ASSERT_EQ(::pipe2(up.data(), O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(down.data(), O_CLOEXEC), 0);
    const UniqueFd up_read(up[0]);
    UniqueFd up_write(up[1]);
    UniqueFd down_read(down[0]);
    const UniqueFd down_write(down[1]);
    const pid_t helper = ::fork();
    ASSERT_GE(helper, 0);
    if (helper == 0) {
        try {
            TpmChild child(swtpm_->tcti(), std::chrono::hours(1));
            const pid_t pid = child.pid();
            char go = 0;
            if (::write(up_write.get(), &pid, sizeof(pid)) == sizeof(pid) &&
                ::read(down_read.get(), &go, 1) == 1)
                child.read(kPcr);
        } catch (...) {
        }
        ::_exit(1);
    }
    up_write.reset();
    down_read.reset();
    pid_t grandchild = -1;
    ASSERT_EQ(::read(up_read.get(), &grandchild, sizeof(grandchild)),
              static_cast<ssize_t>(sizeof(grandchild)));
    // Held from now on: the pid cannot be reused while we watch it.
    const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, grandchild, 0)));
    ASSERT_TRUE(pidfd.valid());
    swtpm_->pause();
    ASSERT_EQ(::write(down_write.get(), "g", 1), 1);
    pollfd p{pidfd.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 300), 0) << "the TPM child ended while its TPM was paused";
    ::kill(helper, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(helper, &status, 0), helper);
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "the TPM child outlived its parent";
    swtpm_->resume();
}

TEST(TpmChildDeadline, ATpmThatAcceptsButNeverAnswersTimesOut) {
    const ListeningPorts silent = listen_on_free_ports();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(error_of([&] { TpmChild child(silent.tcti(), kShortDeadline); }),
              "the TPM at " + silent.tcti() +
                  " did not answer within 0.5 s; check it, or run with --tpm=off");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_TRUE(no_children_left());
}

TEST(TpmChildOpen, AMissingTctiIsAClearErrorFromTheChild) {
    EXPECT_THAT(error_of([] { TpmChild child("nosuchtcti:x", kDeadline); }),
                HasSubstr("cannot open the TPM at nosuchtcti:x"));
    EXPECT_TRUE(no_children_left());
}

TEST(TpmChildOpen, ANothingListeningPortIsAnError) {
    std::string tcti;
    {
        const ListeningPorts closed = listen_on_free_ports();
        tcti = closed.tcti();
    }
    EXPECT_THROW(TpmChild(tcti, kDeadline), Error);
    EXPECT_TRUE(no_children_left());
}

}  // namespace
}  // namespace rkt::tpm::test
