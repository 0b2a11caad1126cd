#include "stage0/trust/keystore.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

using namespace rkt::trust;
namespace fs = std::filesystem;

namespace {

std::string public_pem() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(b);
    EVP_PKEY_free(k);
    return pem;
}

class KeystoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("rkt-keystore-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
    }
    void TearDown() override { fs::remove_all(root_); }
    fs::path root_;
};

}  // namespace

TEST_F(KeystoreTest, PrefixesCoverAtPathBoundaries) {
    EXPECT_TRUE(prefix_covers("h:5000/team", "h:5000/team/app"));
    EXPECT_TRUE(prefix_covers("h:5000/team", "h:5000/team"));
    EXPECT_FALSE(prefix_covers("h:5000/team", "h:5000/teamster"));
    EXPECT_FALSE(prefix_covers("h:5000/team/app", "h:5000/team"));
    EXPECT_TRUE(prefix_covers("", "anything"));
}

TEST_F(KeystoreTest, AddListScopeAndRemove) {
    Keystore ks(root_ / "sys", root_ / "local");
    std::string a = public_pem(), b = public_pem();
    TrustedKey ka = ks.add(a, "127.0.0.1:5000/x");
    TrustedKey kb = ks.add(b, "");
    EXPECT_TRUE(fs::exists(root_ / "local/trustedkeys/prefix.d/127.0.0.1:5000,x" /
                           (ka.fingerprint + ".pem")));
    EXPECT_TRUE(fs::exists(root_ / "local/trustedkeys/root.d" / (kb.fingerprint + ".pem")));
    EXPECT_EQ(ks.list().size(), 2u);
    EXPECT_EQ(ks.keys_for("127.0.0.1:5000/x/test").size(), 2u);
    auto only_root = ks.keys_for("127.0.0.1:5000/y/test");
    ASSERT_EQ(only_root.size(), 1u);
    EXPECT_TRUE(only_root[0].is_root());
    EXPECT_EQ(ks.remove(ka.fingerprint.substr(0, 12)).size(), 1u);
    EXPECT_EQ(ks.keys_for("127.0.0.1:5000/x/test").size(), 1u);
    EXPECT_THROW(ks.remove("abc"), rkt::Error);
}

TEST_F(KeystoreTest, LocalOverridesAndDisablesSystemKeys) {
    Keystore system_writer(root_ / "none", root_ / "sys");
    TrustedKey k = system_writer.add(public_pem(), "h/a");
    Keystore ks(root_ / "sys", root_ / "local");
    ASSERT_EQ(ks.keys_for("h/a/b").size(), 1u);
    fs::create_directories(root_ / "local/trustedkeys/prefix.d/h,a");
    std::ofstream(root_ / "local/trustedkeys/prefix.d/h,a" / (k.fingerprint + ".pem"));  // empty
    EXPECT_TRUE(ks.keys_for("h/a/b").empty());
}

TEST_F(KeystoreTest, SkipsBadFilesAndRejectsBadPrefixes) {
    Keystore ks(root_ / "sys", root_ / "local");
    fs::create_directories(root_ / "local/trustedkeys/root.d");
    std::ofstream(root_ / "local/trustedkeys/root.d" / (std::string(64, 'a') + ".pem"))
        << "garbage";
    EXPECT_TRUE(ks.list().empty());
    // A file whose name is not its fingerprint is not trusted either.
    std::ofstream(root_ / "local/trustedkeys/root.d" / (std::string(64, 'b') + ".pem"))
        << public_pem();
    EXPECT_TRUE(ks.list().empty());
    for (const char* bad : {"../etc", "a/../b", "/abs", "a//b", "a,b", "a b", "a/"})
        EXPECT_THROW(ks.add(public_pem(), bad), rkt::Error) << bad;
    EXPECT_THROW(ks.add("not a key", "h/a"), rkt::Error);
}
