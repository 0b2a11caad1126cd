// The store's own files against other users and a full disk: cas/ is root's alone, image gc
// reclaims partial downloads no fetch is writing, and a write that finds the file system full
// says so in one line and leaves the store as it was.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "common/error.h"
#include "common/file_lock.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

using std::chrono::milliseconds;

std::string random_bytes(size_t n) {
    std::mt19937_64 rng(42);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
}

mode_t mode_of(const stdfs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

class SpaceTest : public StoreTest {
protected:
    std::string partial_of(const std::string& digest) const {
        return "blob-" + digest.substr(7) + ".partial";
    }
    // Leaves a partial download behind, as a killed fetch does.
    std::string leave_partial(ImageStore& store, const std::string& data) {
        std::string digest = sha256_digest_of(data);
        auto w = store.begin_blob(digest, data.size());
        w->write(data.data(), data.size() / 2);
        return digest;
    }
    // A tmpfs of `bytes` as the data directory; false (the test skips) where it cannot be made.
    bool mount_small_data_dir(size_t bytes) {
        stdfs::create_directories(data_);
        std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
        if (::mount("tmpfs", data_.c_str(), "tmpfs", 0, options.c_str()) != 0) return false;
        mounted_ = true;
        return true;
    }
    void TearDown() override {
        if (mounted_) ::umount2(data_.c_str(), MNT_DETACH);
        StoreTest::TearDown();
    }
    bool mounted_ = false;
};

TEST_F(SpaceTest, TheStoreIsRootsAlone) {
    auto store = open_store();
    for (const char* d : {"", "blobs", "blobs/sha256", "tree", "erofs", "tmp", "locks"})
        EXPECT_EQ(mode_of(cas() / d), 0700u) << d;
}

TEST_F(SpaceTest, ImageGcWithoutGraceRemovesPartialsNoFetchIsWriting) {
    auto store = open_store();
    std::string digest = leave_partial(*store, random_bytes(100000));
    EXPECT_EQ(tmp_entries(), std::set<std::string>{partial_of(digest)});

    // Within the grace period it stays, for a fetch to resume.
    store->gc(std::chrono::hours(1), {});
    EXPECT_EQ(tmp_entries(), std::set<std::string>{partial_of(digest)});
    store->gc(milliseconds(0), {});
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(tmp_locks().empty());
}

TEST_F(SpaceTest, ImageGcKeepsThePartialAFetchIsWriting) {
    auto store = open_store();
    std::string data = random_bytes(100000);
    std::string digest = sha256_digest_of(data);
    auto writer = store->begin_blob(digest, data.size());
    writer->write(data.data(), 1000);
    auto other = open_store();  // another rkt's gc
    other->gc(milliseconds(0), {});
    EXPECT_EQ(tmp_entries(), std::set<std::string>{partial_of(digest)});
    writer->write(data.data() + 1000, data.size() - 1000);
    writer->commit();
    EXPECT_TRUE(store->has_blob(digest));
}

TEST_F(SpaceTest, ABlobThatDoesNotFitLeavesNoHalfBlob) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    if (!mount_small_data_dir(4 << 20)) GTEST_SKIP() << "cannot mount a tmpfs here";
    auto store = open_store();
    // A blob of the same fetch that had started: it goes too, or the disk would stay full.
    std::string small = random_bytes(1 << 20);
    auto sibling = store->begin_blob(sha256_digest_of(small), small.size());
    sibling->write(small.data(), small.size() / 2);

    std::string big = random_bytes(8 << 20);
    std::string digest = sha256_digest_of(big);
    auto w = store->begin_blob(digest, big.size());
    std::string message;
    try {
        for (size_t at = 0; at < big.size(); at += 65536) w->write(big.data() + at, 65536);
        w->commit();
    } catch (const Error& e) {
        message = e.what();
    }
    EXPECT_EQ(message, "no space left on device while writing blob " + digest + " to " +
                           cas().string() + "; free space or run `rkt image gc`");
    w.reset();
    sibling.reset();
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(tmp_locks().empty());
    EXPECT_FALSE(store->has_blob(digest));

    // The space is back: the store takes what fits.
    auto again = store->begin_blob(sha256_digest_of(small), small.size());
    again->write(small.data(), small.size());
    again->commit();
    EXPECT_TRUE(store->has_blob(sha256_digest_of(small)));
}

TEST_F(SpaceTest, AnImportThatDoesNotFitSaysSoAndKeepsTheIndex) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    if (!mount_small_data_dir(6 << 20)) GTEST_SKIP() << "cannot mount a tmpfs here";
    auto store = open_store();
    LayoutWriter fits(tmp_ / "fits");
    auto l1 = make_layer({file("hello", "small image")});
    fits.write_index({fits.add_image({l1}, make_config({l1.diff_id}))});
    ImageInfo kept = store->import_oci_layout(fits.dir(), "", "example.com/fits");

    LayoutWriter huge(tmp_ / "huge");
    auto l2 = make_layer({file("big", random_bytes(8 << 20))}, TarCompression::kNone);
    huge.write_index({huge.add_image({l2}, make_config({l2.diff_id}))});
    EXPECT_ERROR_CONTAINS(store->import_oci_layout(huge.dir(), "", "example.com/huge"),
                          "no space left on device while writing image " + huge.dir().string() +
                              " to " + cas().string() + "; free space or run `rkt image gc`");
    EXPECT_TRUE(tmp_entries().empty());
    auto images = store->list();
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(images[0].id, kept.id);
    EXPECT_TRUE(store->verify().empty());
    store->touch(kept.id);  // the index takes writes again
}

}  // namespace
}  // namespace rkt::store::testing
