// The image index on a pod's start path: marking a cached image used is one transaction, and the
// WAL stays short although `rkt run` never closes the database (it execs its stage1).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "stage0/store/image_index.h"

namespace rkt::store {
namespace {

class ImageIndexTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "rkt-index-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    static ImageRecord record(const std::string& id) {
        ImageRecord r;
        r.id = id;
        r.manifest_digest = "sha256:" + id.substr(7);
        r.manifest_media_type = "application/vnd.oci.image.manifest.v1+json";
        r.config_digest = r.manifest_digest;
        r.config_json = "{}";
        r.import_time_ms = r.last_used_ms = 1;
        return r;
    }
    std::filesystem::path db() const { return dir_ / "db.sqlite"; }
    std::filesystem::path dir_;
};

const std::string kId = "sha256-" + std::string(64, 'a');

TEST_F(ImageIndexTest, MarkUsedSetsLastUsedAndMakesTheNameTheFirst) {
    // Names are ordered by the millisecond they were bound: a clock that gives each binding its
    // own.
    int64_t clock_ms = 1'000'000;
    ImageIndex index(db(), [&clock_ms] { return ++clock_ms; });
    index.insert(record(kId), {}, NameBinding{"example.com/a", "latest"});
    index.bind_name(kId, {"example.com/b", "latest"});
    ASSERT_EQ(index.names_of(kId).front().name, "example.com/b");

    index.mark_used(kId, NameBinding{"example.com/a", "latest"}, 1234);
    EXPECT_EQ(index.find(kId)->last_used_ms, 1234);
    EXPECT_EQ(index.names_of(kId).front().name, "example.com/a");
    EXPECT_EQ(index.names_of(kId).size(), 2u);

    index.mark_used(kId, std::nullopt, 5678);
    EXPECT_EQ(index.find(kId)->last_used_ms, 5678);
    EXPECT_EQ(index.names_of(kId).front().name, "example.com/a");
}

TEST_F(ImageIndexTest, WalStaysShortWithoutAClose) {
    ImageIndex index(db());
    index.insert(record(kId), {}, NameBinding{"example.com/a", "latest"});
    // Every commit appends frames (4 KB pages) to the WAL; SQLite's own auto-checkpoint would
    // let it grow to 1000 of them in a process that never closes the database.
    for (int i = 0; i < 300; ++i) index.mark_used(kId, NameBinding{"example.com/a", "latest"}, i);
    auto wal = std::filesystem::path(db().string() + "-wal");
    ASSERT_TRUE(std::filesystem::exists(wal));
    EXPECT_LT(std::filesystem::file_size(wal), 40u * (4096 + 24) + 32);
    EXPECT_EQ(index.find(kId)->last_used_ms, 299);
}

}  // namespace
}  // namespace rkt::store
