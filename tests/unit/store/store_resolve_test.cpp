// Finding images by id prefix and by name; touch, remove.
#include <map>

#include "common/error.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class ResolveTest : public StoreTest {};

TEST_F(ResolveTest, ResolvesIdsAndNames) {
    stdfs::path layout = tmp_ / "app";
    std::string id = write_simple_layout(layout, {{file("a", "1")}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "example.com/app:1.2");
    std::string hex = id.substr(7);
    for (const std::string& ref : std::vector<std::string>{
             id, "sha256-" + hex.substr(0, 12), "sha256:" + hex.substr(0, 12), hex.substr(0, 6),
             hex, "example.com/app:1.2", "example.com/app@sha256:" + hex}) {
        auto found = store->resolve(ref);
        ASSERT_TRUE(found) << ref;
        EXPECT_EQ(found->id, id) << ref;
    }
    EXPECT_FALSE(store->resolve("example.com/app"));  // tag defaults to latest
    store->import_oci_layout(layout, "", "example.com/app");
    EXPECT_EQ(store->resolve("example.com/app")->id, id);
    EXPECT_FALSE(store->resolve("sha256-" + std::string(12, hex[0] == '0' ? '1' : '0')));
    EXPECT_FALSE(store->resolve("nothing"));
    EXPECT_ERROR_CONTAINS(store->resolve("sha256-abc"), "too short");
    EXPECT_ERROR_CONTAINS(store->resolve("sha256-xyz123"), "malformed image id");
}

// Two manifests whose digests share their first 6 hex digits, found by a birthday search over
// an annotation (a few thousand hashes).
std::pair<std::string, std::string> colliding_manifests(const std::string& config,
                                                        const LayerBlob& layer) {
    std::map<std::string, std::string> seen;
    for (int nonce = 0;; ++nonce) {
        nlohmann::json m = {
            {"schemaVersion", 2},
            {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"config", descriptor("application/vnd.oci.image.config.v1+json", config)},
            {"layers", {descriptor(layer.media_type, layer.bytes)}},
            {"annotations", {{"nonce", std::to_string(nonce)}}}};
        std::string bytes = m.dump();
        std::string prefix = sha256_digest_of(bytes).substr(7, 6);
        auto [it, inserted] = seen.emplace(prefix, bytes);
        if (!inserted) return {it->second, bytes};
    }
}

TEST_F(ResolveTest, AmbiguousPrefixIsAnError) {
    stdfs::path layout = tmp_ / "twins";
    LayoutWriter w(layout);
    auto layer = make_layer({file("a", "1")});
    std::string config = make_config({layer.diff_id}).dump();
    w.add_blob(config);
    w.add_blob(layer.bytes);
    auto [m1, m2] = colliding_manifests(config, layer);
    w.add_blob(m1);
    w.add_blob(m2);
    w.write_index({descriptor("application/vnd.oci.image.manifest.v1+json", m1,
                              {{"org.opencontainers.image.ref.name", "one"}}),
                   descriptor("application/vnd.oci.image.manifest.v1+json", m2,
                              {{"org.opencontainers.image.ref.name", "two"}})});
    auto store = open_store();
    ImageInfo a = store->import_oci_layout(layout, "one", "");
    ImageInfo b = store->import_oci_layout(layout, "two", "");
    ASSERT_NE(a.id, b.id);
    ASSERT_EQ(a.id.substr(0, 13), b.id.substr(0, 13));
    EXPECT_ERROR_CONTAINS(store->resolve(a.id.substr(7, 6)), "ambiguous image id, 2 matches");
    EXPECT_ERROR_CONTAINS(store->resolve(a.id.substr(0, 13)), "ambiguous image id, 2 matches");
    EXPECT_EQ(store->resolve(a.id)->id, a.id);
    EXPECT_EQ(store->resolve(b.id.substr(0, 7 + 20))->id, b.id);
    EXPECT_EQ(store->resolve("twins:two")->id, b.id);
}

TEST_F(ResolveTest, TouchAndRemove) {
    std::vector<TarEntry> base = {file("base", "shared")};
    stdfs::path la = tmp_ / "a", lb = tmp_ / "b";
    std::string a = write_simple_layout(la, {base, {file("who", "a")}});
    std::string b = write_simple_layout(lb, {base, {file("who", "b")}});
    auto store = open_store();
    store->import_oci_layout(la, "", "");
    store->import_oci_layout(lb, "", "");
    auto before = store->resolve(a)->last_used;
    store->touch(a);
    EXPECT_GE(store->resolve(a)->last_used, before);
    EXPECT_ERROR_CONTAINS(store->touch("sha256-" + std::string(64, '0')), "no image");

    size_t blobs_before = blobs().size();
    store->remove(b);
    EXPECT_FALSE(store->resolve(b));
    EXPECT_FALSE(store->resolve("b"));
    EXPECT_EQ(trees(), std::set<std::string>{a});
    // b's manifest, config and top layer are gone; the shared base layer stays for a.
    EXPECT_EQ(blobs().size(), blobs_before - 3);
    EXPECT_TRUE(store->verify().empty());
    EXPECT_EQ(read_file(store->render_tree(a) / "base"), "shared");
    EXPECT_ERROR_CONTAINS(store->remove(b), "no image");
}

}  // namespace
}  // namespace rkt::store::testing
