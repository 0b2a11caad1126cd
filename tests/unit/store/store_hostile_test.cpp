// Hostile layers and lying descriptors: each is refused with a clear error, and the store's
// images, blobs and trees are exactly as before (nothing half-imported is visible).
#include <unistd.h>

#include "common/error.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class HostileTest : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        // A sibling directory a traversal would reach; it must stay empty.
        stdfs::create_directories(tmp_ / "outside");
        // An image already in the store, which every failed import must leave alone.
        stdfs::path good = tmp_ / "good";
        write_simple_layout(good, {{file("ok", "ok")}});
        auto store = open_store();
        store->import_oci_layout(good, "", "");
        before_blobs_ = blobs();
        before_trees_ = trees();
        ASSERT_EQ(before_trees_.size(), 1u);
    }

    void expect_refused(const std::vector<std::vector<TarEntry>>& layers, const std::string& needle,
                        const ImportLimits& limits = {}) {
        stdfs::path layout = tmp_ / ("bad" + std::to_string(counter_++));
        write_simple_layout(layout, layers);
        expect_layout_refused(layout, needle, limits);
    }

    void expect_layout_refused(const stdfs::path& layout, const std::string& needle,
                               const ImportLimits& limits = {}) {
        auto store = open_store(limits);
        EXPECT_ERROR_CONTAINS(store->import_oci_layout(layout, "", ""), needle);
        expect_unchanged(*store);
    }

    void expect_unchanged(ImageStore& store) {
        EXPECT_EQ(store.list().size(), 1u);
        EXPECT_EQ(blobs(), before_blobs_);
        EXPECT_EQ(trees(), before_trees_);
        EXPECT_TRUE(tmp_entries().empty());
        EXPECT_TRUE(tmp_locks().empty());
        EXPECT_TRUE(names_in(tmp_ / "outside").empty());
        EXPECT_FALSE(exists_nofollow(tmp_ / "evil"));
        EXPECT_TRUE(store.verify().empty());
    }

    std::set<std::string> before_blobs_;
    std::set<std::string> before_trees_;
    int counter_ = 0;
};

TEST_F(HostileTest, DotDotComponents) {
    expect_refused({{file("../../outside/evil", "x")}}, "has a \"..\" component");
    expect_refused({{dir("a"), file("a/../../outside/evil", "x")}}, "has a \"..\" component");
}

TEST_F(HostileTest, AbsolutePaths) {
    expect_refused({{file("/etc/evil", "x")}}, "absolute path");
}

TEST_F(HostileTest, SymlinkEscapes) {
    std::string outside = (tmp_ / "outside").string();
    expect_refused({{symlink("esc", outside), file("esc/evil", "x")}}, "outside the image root");
    expect_refused({{symlink("esc", "../../../../../../.."), file("esc/evil", "x")}},
                   "outside the image root");
    // The link in one layer, the write through it in the next.
    expect_refused({{dir("d"), symlink("d/up", "../..")}, {file("d/up/evil", "x")}},
                   "outside the image root");
    // A whiteout through an escaping symlink must not delete outside either.
    write_file(tmp_ / "precious" / "victim", "v");
    expect_refused({{symlink("esc", (tmp_ / "precious").string())}, {file("esc/.wh.victim", "")}},
                   "outside the image root");
    EXPECT_TRUE(is_regular(tmp_ / "precious" / "victim"));
}

TEST_F(HostileTest, FinalSymlinksAreReplacedNeverFollowed) {
    // A symlink pointing out, then a file, a directory and a hard link at the same path: each
    // replaces the link; nothing is written where the link pointed.
    std::string outside = (tmp_ / "outside" / "target").string();
    stdfs::path layout = tmp_ / "replace";
    std::string id = write_simple_layout(
        layout, {{symlink("f", outside), symlink("d", tmp_ / "outside"), symlink("h", outside),
                  file("src", "src")},
                 {file("f", "file"), dir("d"), file("d/inside", "in"), hardlink("h", "src")}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "");
    stdfs::path root = store->render_tree(id);
    EXPECT_EQ(read_file(root / "f"), "file");
    EXPECT_EQ(read_file(root / "d/inside"), "in");
    EXPECT_EQ(read_file(root / "h"), "src");
    EXPECT_TRUE(names_in(tmp_ / "outside").empty());
}

TEST_F(HostileTest, HardLinksOutsideTheTree) {
    expect_refused({{hardlink("h", "../outside/x")}}, "has a \"..\" component");
    expect_refused({{hardlink("h", "/etc/passwd")}}, "absolute path");
    expect_refused({{hardlink("h", "nope")}}, "not in the tree");
    expect_refused({{symlink("s", "/etc"), hardlink("h", "s/passwd")}}, "outside the image root");
}

TEST_F(HostileTest, EntryLargerThanTheLimit) {
    ImportLimits limits;
    limits.max_entry_bytes = 100;
    expect_refused({{file("big", std::string(200, 'x'))}}, "larger than the limit", limits);
}

TEST_F(HostileTest, DecompressionBomb) {
    ImportLimits limits;
    limits.max_layer_bytes = 1 << 20;
    // A few KiB of gzip that decompress to 4 MiB.
    expect_refused({{file("zeros", std::string(4 << 20, '\0'))}}, "decompresses to more than",
                   limits);
}

TEST_F(HostileTest, TooManyEntries) {
    ImportLimits limits;
    limits.max_layer_entries = 5;
    std::vector<TarEntry> many;
    for (int i = 0; i < 10; ++i) many.push_back(file(std::to_string(i) + ".txt", "x"));
    expect_refused({many}, "more than 5 entries", limits);
}

TEST_F(HostileTest, OverlongPaths) {
    ImportLimits limits;
    limits.max_path_length = 50;
    expect_refused({{file(std::string(30, 'a') + "/" + std::string(30, 'b'), "x")}},
                   "longer than the limit", limits);
    expect_refused({{file(std::string(300, 'n'), "x")}}, "longer than 255 bytes");
}

TEST_F(HostileTest, InvalidWhiteout) {
    expect_refused({{file("d/.wh.", "")}}, "invalid whiteout");
}

TEST_F(HostileTest, ManifestDigestMismatch) {
    stdfs::path layout = tmp_ / "m";
    write_simple_layout(layout, {{file("a", "1")}});
    nlohmann::json index = nlohmann::json::parse(read_file(layout / "index.json"));
    std::string hex = index["manifests"][0]["digest"].get<std::string>().substr(7);
    std::string manifest = read_file(layout / "blobs/sha256" / hex);
    manifest[manifest.size() - 1] = ' ';  // same size, other bytes
    write_file(layout / "blobs/sha256" / hex, manifest);
    expect_layout_refused(layout, "manifest sha256:" + hex + ": digest mismatch");
}

TEST_F(HostileTest, ManifestSizeMismatch) {
    stdfs::path layout = tmp_ / "ms";
    write_simple_layout(layout, {{file("a", "1")}});
    nlohmann::json index = nlohmann::json::parse(read_file(layout / "index.json"));
    index["manifests"][0]["size"] = index["manifests"][0]["size"].get<int>() + 1;
    write_file(layout / "index.json", index.dump());
    expect_layout_refused(layout, "but its descriptor says");
}

// Rewrites a blob of the layout in place (its name, the digest, stays).
void spoil_blob(const stdfs::path& layout, const std::string& digest, const std::string& bytes) {
    write_file(layout / "blobs/sha256" / digest.substr(7), bytes);
}

nlohmann::json manifest_of(const stdfs::path& layout) {
    nlohmann::json index = nlohmann::json::parse(read_file(layout / "index.json"));
    return nlohmann::json::parse(read_file(
        layout / "blobs/sha256" / index["manifests"][0]["digest"].get<std::string>().substr(7)));
}

TEST_F(HostileTest, ConfigDigestMismatch) {
    stdfs::path layout = tmp_ / "c";
    write_simple_layout(layout, {{file("a", "1")}});
    nlohmann::json m = manifest_of(layout);
    std::string digest = m["config"]["digest"];
    std::string config = read_file(layout / "blobs/sha256" / digest.substr(7));
    config[config.size() - 1] = ' ';
    spoil_blob(layout, digest, config);
    expect_layout_refused(layout, "config " + digest + ": digest mismatch");
}

TEST_F(HostileTest, LayerDigestAndSizeMismatch) {
    stdfs::path layout = tmp_ / "l";
    write_simple_layout(layout, {{file("a", "1")}}, TarCompression::kNone);
    nlohmann::json m = manifest_of(layout);
    std::string digest = m["layers"][0]["digest"];
    std::string layer = read_file(layout / "blobs/sha256" / digest.substr(7));
    // Same size, one byte of file data changed: valid tar, wrong digest.
    std::string changed = layer;
    size_t pos = changed.find("1", 512);
    ASSERT_NE(pos, std::string::npos);
    changed[pos] = '2';
    spoil_blob(layout, digest, changed);
    expect_layout_refused(layout, "digest mismatch");
    // Longer than the descriptor says: cut off while reading.
    spoil_blob(layout, digest, layer + std::string(10240, '\0'));
    expect_layout_refused(layout, "larger than the");
    // Shorter.
    spoil_blob(layout, digest, layer.substr(0, layer.size() - 512));
    expect_layout_refused(layout, "but the manifest says");
}

TEST_F(HostileTest, DiffIdMismatch) {
    stdfs::path layout = tmp_ / "d";
    LayoutWriter w(layout);
    auto layer = make_layer({file("a", "1")});
    w.write_index({w.add_image({layer}, make_config({sha256_digest_of("something else")}))});
    expect_layout_refused(layout, "DiffID mismatch");
}

TEST_F(HostileTest, LayerCountMismatch) {
    stdfs::path layout = tmp_ / "n";
    LayoutWriter w(layout);
    auto layer = make_layer({file("a", "1")});
    w.write_index({w.add_image({layer}, make_config({layer.diff_id, layer.diff_id}))});
    expect_layout_refused(layout, "lists 2 layers but the manifest has 1");
}

TEST_F(HostileTest, MalformedDocuments) {
    stdfs::path layout = tmp_ / "j";
    write_simple_layout(layout, {{file("a", "1")}});
    write_file(layout / "index.json", std::string(100, '[') + std::string(100, ']'));
    expect_layout_refused(layout, "nests deeper than");
    write_file(layout / "index.json", R"({"manifests":[{"digest":"md5:abc","size":1}]})");
    expect_layout_refused(layout, "malformed digest");
    write_file(layout / "index.json", R"({"manifests":[{"digest":"sha256:../../x","size":1}]})");
    expect_layout_refused(layout, "malformed digest");
    write_file(layout / "index.json", "not json");
    expect_layout_refused(layout, "not valid JSON");
    stdfs::remove(layout / "oci-layout");
    expect_layout_refused(layout, "no oci-layout");
}

TEST_F(HostileTest, GarbageLayer) {
    stdfs::path layout = tmp_ / "g";
    LayoutWriter w(layout);
    LayerBlob junk{std::string(4096, 'z'), sha256_digest_of(std::string(4096, 'z')),
                   "application/vnd.oci.image.layer.v1.tar"};
    w.write_index({w.add_image({junk}, make_config({junk.diff_id}))});
    expect_layout_refused(layout, "layer 0");
}

}  // namespace
}  // namespace rkt::store::testing
