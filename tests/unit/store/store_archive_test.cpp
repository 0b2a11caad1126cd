// OCI archives and `docker save` archives (legacy layout and Docker >= 25's blobs/ layout).
#include "common/error.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class ArchiveTest : public StoreTest {};

std::string hex(const std::string& digest) {
    return digest.substr(7);
}

// A legacy `docker save` directory: <v1id>/{VERSION,json,layer.tar}, the second layer's tar a
// symlink to a third directory, as docker writes for repeated layers.
stdfs::path legacy_docker_save(const stdfs::path& out, bool compressed_layer = false) {
    const stdfs::path& save = out;
    std::string l1 = make_tar({dir("etc"), file("etc/os-release", "ID=test\n")});
    std::string l2 = make_tar({file("etc/os-release", "ID=second\n"), file("app", "run")});
    std::string l1_stored =
        compressed_layer
            ? make_tar({dir("etc"), file("etc/os-release", "ID=test\n")}, TarCompression::kGzip)
            : l1;
    nlohmann::json config = make_config({sha256_digest_of(l1), sha256_digest_of(l2)});
    std::string config_bytes = config.dump();
    std::string config_name = hex(sha256_digest_of(config_bytes)) + ".json";
    write_file(save / config_name, config_bytes);
    std::string id1(64, '1'), id2(64, '2'), id3(64, '3');
    for (const auto& id : {id1, id2, id3}) {
        write_file(save / id / "VERSION", "1.0");
        write_file(save / id / "json", "{}");
    }
    write_file(save / id1 / "layer.tar", l1_stored);
    write_file(save / id3 / "layer.tar", l2);
    stdfs::create_symlink("../" + id3 + "/layer.tar", save / id2 / "layer.tar");
    nlohmann::json manifest =
        nlohmann::json::array({{{"Config", config_name},
                                {"RepoTags", {"docker.io/x/test:v1"}},
                                {"Layers", {id1 + "/layer.tar", id2 + "/layer.tar"}}}});
    write_file(save / "manifest.json", manifest.dump());
    write_file(save / "repositories", R"({"docker.io/x/test":{"v1":")" + id2 + R"("}})");
    return save;
}

TEST_F(ArchiveTest, ImportsLegacyDockerSave) {
    stdfs::path src = legacy_docker_save(tmp_ / "save");
    tar_directory(src, tmp_ / "test.tar");
    auto store = open_store();
    ImageInfo info = store->import_archive(tmp_ / "test.tar", "", "");
    EXPECT_EQ(info.name, "docker.io/x/test");
    EXPECT_EQ(info.tag, "v1");
    EXPECT_EQ(info.config.user, "1000:1000");
    stdfs::path root = store->render_tree(info.id);
    EXPECT_EQ(read_file(root / "etc/os-release"), "ID=second\n");
    EXPECT_EQ(read_file(root / "app"), "run");
    EXPECT_TRUE(store->verify().empty());
    EXPECT_TRUE(tmp_entries().empty());

    // The same archive again: same id, one image.
    ImageInfo again = store->import_archive(tmp_ / "test.tar", "v1", "");
    EXPECT_EQ(again.id, info.id);
    EXPECT_EQ(store->list().size(), 1u);
    EXPECT_ERROR_CONTAINS(store->import_archive(tmp_ / "test.tar", "v2", ""),
                          "no image tagged \"v2\"");

    // The stored manifest is a plain OCI manifest whose layers are the uncompressed tars.
    nlohmann::json m = nlohmann::json::parse(store->manifest_json(info.id));
    EXPECT_EQ(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    ASSERT_EQ(m["layers"].size(), 2u);
    EXPECT_EQ(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
}

TEST_F(ArchiveTest, ImportsDockerSaveWithBlobsLayout) {
    // Docker >= 25: blobs/sha256/<hex>, plus oci-layout and index.json; manifest.json wins.
    stdfs::path src = tmp_ / "save25";
    LayoutWriter w(src);
    auto layer = make_layer({file("hello", "from docker 25")}, TarCompression::kNone);
    nlohmann::json config = make_config({layer.diff_id});
    nlohmann::json m = w.add_image({layer}, config);
    w.write_index({m});
    std::string config_digest = sha256_digest_of(config.dump());
    nlohmann::json manifest = nlohmann::json::array(
        {{{"Config", "blobs/sha256/" + hex(config_digest)},
          {"RepoTags", {"example.com/hello:25"}},
          {"Layers", {"blobs/sha256/" + hex(sha256_digest_of(layer.bytes))}}}});
    write_file(src / "manifest.json", manifest.dump());
    tar_directory(src, tmp_ / "hello.tar", TarCompression::kGzip);

    auto store = open_store();
    ImageInfo info = store->import_archive(tmp_ / "hello.tar", "", "");
    EXPECT_EQ(info.name, "example.com/hello");
    EXPECT_EQ(info.tag, "25");
    EXPECT_EQ(read_file(store->render_tree(info.id) / "hello"), "from docker 25");
}

TEST_F(ArchiveTest, RefusesCompressedDockerSaveLayers) {
    stdfs::path src = legacy_docker_save(tmp_ / "save", true);
    tar_directory(src, tmp_ / "bad.tar");
    auto store = open_store();
    EXPECT_ERROR_CONTAINS(store->import_archive(tmp_ / "bad.tar", "", ""), "is compressed");
    EXPECT_TRUE(store->list().empty());
    EXPECT_TRUE(blobs().empty());
    EXPECT_TRUE(tmp_entries().empty());
}

TEST_F(ArchiveTest, DockerSaveConfigDigestIsChecked) {
    stdfs::path src = legacy_docker_save(tmp_ / "save");
    for (const auto& e : stdfs::directory_iterator(src))
        if (e.path().extension() == ".json" && e.path().filename() != "manifest.json")
            write_file(e.path(), read_file(e.path()) + " ");
    tar_directory(src, tmp_ / "bad.tar");
    auto store = open_store();
    EXPECT_ERROR_CONTAINS(store->import_archive(tmp_ / "bad.tar", "", ""), "digest mismatch");
    EXPECT_TRUE(store->list().empty());
}

TEST_F(ArchiveTest, ImportsOciArchiveNamedAfterTheFile) {
    stdfs::path layout = tmp_ / "layout";
    std::string id = write_simple_layout(layout, {{file("x", "y")}});
    tar_directory(layout, tmp_ / "busybox.tar");
    auto store = open_store();
    ImageInfo info = store->import_archive(tmp_ / "busybox.tar", "", "");
    EXPECT_EQ(info.id, id);
    EXPECT_EQ(info.name, "busybox");
    EXPECT_EQ(info.tag, "latest");
    EXPECT_EQ(read_file(store->render_tree(id) / "x"), "y");
    EXPECT_TRUE(store->verify().empty());
}

TEST_F(ArchiveTest, RefusesHostileArchives) {
    auto store = open_store();
    write_file(tmp_ / "dotdot.tar", make_tar({file("../evil", "x"), file("index.json", "{}")}));
    EXPECT_ERROR_CONTAINS(store->import_archive(tmp_ / "dotdot.tar", "", ""), "\"..\"");
    TarEntry dev;
    dev.type = TarEntry::Type::kCharDevice;
    dev.path = "blobs/dev";
    dev.dev_major = 1;
    dev.dev_minor = 3;
    write_file(tmp_ / "dev.tar", make_tar({dev}));
    EXPECT_ERROR_CONTAINS(store->import_archive(tmp_ / "dev.tar", "", ""), "device nodes");
    write_file(tmp_ / "empty.tar", make_tar({file("README", "nothing here")}));
    EXPECT_ERROR_CONTAINS(store->import_archive(tmp_ / "empty.tar", "", ""),
                          "neither an OCI archive");
    EXPECT_TRUE(store->list().empty());
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_FALSE(exists_nofollow(tmp_ / "evil"));
}

}  // namespace
}  // namespace rkt::store::testing
