// The store's sidecars: erofs/<id>.verity written with each erofs image and checked when read
// back, images of older stores (no sidecar) built again, `verify` finding a changed image; and
// tree/<id>/.digest written with each rendered tree.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/process.h"
#include "common/verity_info.h"
#include "stage0/store/erofs_verity.h"
#include "stage0/store/tree_digest.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class StoreVerityTest : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        if (!find_executable("mkfs.erofs"))
            GTEST_SKIP() << "mkfs.erofs (erofs-utils) is not installed";
        id_ = write_simple_layout(
            tmp_ / "layout", {{file("etc/motd", std::string(20000, 'm')), symlink("l", "etc")}});
        store_ = open_store();
        store_->import_oci_layout(tmp_ / "layout", "", "");
    }
    stdfs::path img() const { return cas() / "erofs" / (id_ + ".img"); }
    stdfs::path sidecar() const { return cas() / "erofs" / (id_ + ".verity"); }

    std::string id_;
    std::unique_ptr<ImageStore> store_;
};

TEST_F(StoreVerityTest, ErofsImageCarriesItsHashTree) {
    stdfs::path image = store_->erofs_image(id_);
    EXPECT_EQ(image, img());
    ASSERT_TRUE(is_regular(sidecar()));
    VerityInfo info = read_verity_info(sidecar());
    EXPECT_EQ(store_->erofs_verity(id_), info);
    EXPECT_EQ(stdfs::file_size(image), info.file_size());
    UniqueFd fd = fs::open_file(image, O_RDONLY);
    EXPECT_EQ(verity_root_hash(fd.get(), info), info.root_hash);
    EXPECT_TRUE(store_->verify().empty());
    EXPECT_TRUE(tmp_entries().empty());
    store_->remove(id_);
    EXPECT_FALSE(exists_nofollow(image));
    EXPECT_FALSE(exists_nofollow(sidecar()));
}

TEST_F(StoreVerityTest, AnImageWithoutSidecarIsBuiltAgain) {
    store_->erofs_image(id_);
    // What an older rkt left: the bare erofs image.
    VerityInfo first = read_verity_info(sidecar());
    ASSERT_EQ(::truncate(img().c_str(), static_cast<off_t>(first.hash_offset)), 0);
    stdfs::remove(sidecar());
    VerityInfo again = store_->erofs_verity(id_);
    EXPECT_NE(again.salt, first.salt);
    EXPECT_EQ(read_verity_info(sidecar()), again);
    EXPECT_EQ(stdfs::file_size(img()), again.file_size());
}

TEST_F(StoreVerityTest, AHostileOrStaleSidecarIsReplaced) {
    store_->erofs_image(id_);
    VerityInfo good = read_verity_info(sidecar());
    for (const std::string& bad :
         {std::string("{\"version\": 1}"), std::string("not json"), std::string(10000, '{')}) {
        fs::write_file(sidecar(), bad);
        VerityInfo got = store_->erofs_verity(id_);
        EXPECT_NE(got.salt, good.salt);  // built again, with a salt of its own
        good = got;
        EXPECT_EQ(read_verity_info(sidecar()), got);
        UniqueFd fd = fs::open_file(img(), O_RDONLY);
        EXPECT_TRUE(verity_tree_matches(fd.get(), got));
    }
    // Well-formed, but of another build of the image (another salt).
    VerityInfo stale = store_->erofs_verity(id_);
    stale.salt = std::string(64, '7');
    fs::write_file(sidecar(), to_json(stale));
    EXPECT_NE(store_->erofs_verity(id_).salt, stale.salt);
}

TEST_F(StoreVerityTest, VerifyFindsAndRemovesAChangedImage) {
    VerityInfo info = store_->erofs_verity(id_);
    std::string bytes = fs::read_file(img());
    auto at = bytes.find(std::string(64, 'm'));
    ASSERT_NE(at, std::string::npos);
    ASSERT_LT(at, info.hash_offset);
    {
        UniqueFd fd = fs::open_file(img(), O_WRONLY);
        ASSERT_EQ(::pwrite(fd.get(), "X", 1, static_cast<off_t>(at)), 1);
    }
    // The cheap check on use does not read the data; the guest and `verify` do.
    EXPECT_EQ(store_->erofs_verity(id_), info);
    auto problems = store_->verify();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("does not match the root hash " + info.root_hash), std::string::npos)
        << problems[0];
    EXPECT_NE(problems[0].find("builds it again"), std::string::npos) << problems[0];
    EXPECT_FALSE(exists_nofollow(img()));
    VerityInfo rebuilt = store_->erofs_verity(id_);
    UniqueFd fd = fs::open_file(img(), O_RDONLY);
    EXPECT_EQ(verity_root_hash(fd.get(), rebuilt), rebuilt.root_hash);
    EXPECT_TRUE(store_->verify().empty());
}

TEST_F(StoreVerityTest, TreeDigestIsKeptBesideTheTree) {
    stdfs::path rootfs = store_->render_tree(id_);
    stdfs::path kept = cas() / "tree" / id_ / ".digest";
    ASSERT_TRUE(is_regular(kept));
    std::string d = store_->tree_digest(id_);
    EXPECT_EQ(read_file(kept), d + "\n");
    EXPECT_EQ(tree_digest(rootfs), d);
    // A tree rendered before the store kept digests gets one on first use; a hostile one is
    // replaced.
    for (const char* bad : {"", "sha256:xyz\n", "md5:0\n"}) {
        fs::write_file(kept, bad);
        EXPECT_EQ(store_->tree_digest(id_), d);
        EXPECT_EQ(read_file(kept), d + "\n");
    }
    stdfs::remove(kept);
    EXPECT_EQ(store_->tree_digest(id_), d);
    EXPECT_TRUE(tmp_entries().empty());
}

}  // namespace
}  // namespace rkt::store::testing
