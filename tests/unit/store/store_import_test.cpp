// Importing OCI layouts: rendering, whiteouts, opaque directories, hard links, naming, platform
// selection, media types, re-import, export and erofs.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/error.h"
#include "common/process.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

using Type = TarEntry::Type;

TarEntry owned(TarEntry e, uint32_t uid, uint32_t gid) {
    e.uid = uid;
    e.gid = gid;
    return e;
}

std::vector<std::vector<TarEntry>> whiteout_layers() {
    std::vector<TarEntry> base = {
        dir("etc"),
        file("etc/hostname", "a\n"),
        file("etc/removeme", "x"),
        file("etc/overlay-gone", "x"),
        dir("bin"),
        owned(file("bin/tool", "#!tool\n", 04755), 1000, 1000),
        symlink("bin/sh", "tool"),
        dir("usr/lib"),
        file("usr/lib/keep", "k"),
        file("usr/lib/gone", "g"),
        dir("opaque"),
        file("opaque/old1", "1"),
        dir("opaque/sub"),
        file("opaque/sub/old2", "2"),
        file("opaque/sub/kept-by-new-layer", "old"),
        dir("replace/dir"),
        file("replace/dir/inner", "i"),
        file("flip", "f"),
        dir("dirgone"),
        file("dirgone/child", "c"),
    };
    std::vector<TarEntry> top = {
        file("etc/hostname", "b\n"), file("etc/.wh.removeme", ""),
        whiteout_device("etc/overlay-gone"), file("usr/lib/.wh.gone", ""),
        // Opaque marker after siblings of the same layer: they must survive.
        file("opaque/new", "n"), file("opaque/sub/kept-by-new-layer", "new"),
        file("opaque/.wh..wh..opq", ""), hardlink("bin/tool2", "bin/tool"),
        file("replace/dir", "now a file"), dir("flip"), file("flip/x", "inside"),
        file(".wh.dirgone", ""), file("etc/.wh..wh.plnk", ""),  // aufs bookkeeping: ignored
    };
    std::vector<TarEntry> third = {
        dir("a"),
        file("a/one", "same inode"),
        hardlink("a/two", "a/one"),
    };
    return {base, top, third};
}

class ImportTest : public StoreTest {};

TEST_F(ImportTest, RendersLayersWithWhiteoutsOpaqueDirsAndHardLinks) {
    stdfs::path layout = tmp_ / "x" / "inspect";
    auto layers = whiteout_layers();
    LayoutWriter w(layout);
    std::vector<LayerBlob> layer_blobs = {make_layer(layers[0], TarCompression::kGzip),
                                          make_layer(layers[1], TarCompression::kZstd),
                                          make_layer(layers[2], TarCompression::kNone)};
    nlohmann::json m = w.add_image(
        layer_blobs,
        make_config({layer_blobs[0].diff_id, layer_blobs[1].diff_id, layer_blobs[2].diff_id}));
    w.write_index({m});

    auto store = open_store();
    ImageInfo info = store->import_oci_layout(layout, "", "");
    EXPECT_EQ(info.id, "sha256-" + m["digest"].get<std::string>().substr(7));
    EXPECT_EQ(info.name, "inspect");
    EXPECT_EQ(info.tag, "latest");
    EXPECT_EQ(info.short_id().size(), 19u);
    EXPECT_EQ(info.config.entrypoint, std::vector<std::string>{"/bin/sh"});
    EXPECT_EQ(info.config.cmd, (std::vector<std::string>{"-c", "echo hi"}));
    ASSERT_EQ(info.config.env.size(), 2u);
    EXPECT_EQ(info.config.env[1].name, "GREETING");
    EXPECT_EQ(info.config.env[1].value, "hello=world");
    EXPECT_EQ(info.config.user, "1000:1000");
    EXPECT_EQ(info.config.working_dir, "/work");
    EXPECT_EQ(info.config.labels.at("org.example.label"), "yes");
    EXPECT_EQ(info.config.exposed_ports, std::vector<std::string>{"80/tcp"});
    EXPECT_EQ(info.config.volumes, std::vector<std::string>{"/data"});

    stdfs::path root = store->render_tree(info.id);
    EXPECT_EQ(root, cas() / "tree" / info.id / "rootfs");
    EXPECT_TRUE(is_regular(cas() / "tree" / info.id / ".rendered"));
    EXPECT_EQ(read_file(root / "etc/hostname"), "b\n");
    EXPECT_FALSE(exists_nofollow(root / "etc/removeme"));
    EXPECT_FALSE(exists_nofollow(root / "etc/.wh.removeme"));
    EXPECT_FALSE(exists_nofollow(root / "etc/overlay-gone"));
    EXPECT_FALSE(exists_nofollow(root / "etc/.wh..wh.plnk"));
    EXPECT_FALSE(exists_nofollow(root / "usr/lib/gone"));
    EXPECT_EQ(read_file(root / "usr/lib/keep"), "k");
    // Opaque: lower children gone, this layer's children kept whatever the tar order.
    EXPECT_FALSE(exists_nofollow(root / "opaque/old1"));
    EXPECT_FALSE(exists_nofollow(root / "opaque/sub/old2"));
    EXPECT_FALSE(exists_nofollow(root / "opaque/.wh..wh..opq"));
    EXPECT_EQ(read_file(root / "opaque/new"), "n");
    EXPECT_EQ(read_file(root / "opaque/sub/kept-by-new-layer"), "new");
    // Directory replaced by a file, and the reverse; directory whited out entirely.
    EXPECT_EQ(read_file(root / "replace/dir"), "now a file");
    EXPECT_EQ(read_file(root / "flip/x"), "inside");
    EXPECT_FALSE(exists_nofollow(root / "dirgone"));
    // Symlink kept as a link; hard links share the inode (across and within layers).
    EXPECT_EQ(stdfs::read_symlink(root / "bin/sh"), "tool");
    struct stat a {
    }, b{};
    ASSERT_EQ(::stat((root / "bin/tool").c_str(), &a), 0);
    ASSERT_EQ(::stat((root / "bin/tool2").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    ASSERT_EQ(::stat((root / "a/one").c_str(), &a), 0);
    ASSERT_EQ(::stat((root / "a/two").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    ASSERT_EQ(::stat((root / "bin/tool").c_str(), &a), 0);
    if (::geteuid() == 0) {
        EXPECT_EQ(a.st_uid, 1000u);
        EXPECT_EQ(a.st_gid, 1000u);
        EXPECT_EQ(a.st_mode & 07777, 04755u);
    } else {
        EXPECT_EQ(a.st_mode & 0777, 0755u);
    }
    EXPECT_EQ(a.st_mtime, 1'600'000'000);

    auto images = store->list();
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(images[0].names, std::vector<std::string>{"inspect:latest"});
    uint64_t blob_bytes = 0;
    for (const auto& name : blobs()) blob_bytes += stdfs::file_size(cas() / "blobs/sha256" / name);
    EXPECT_GT(images[0].size, blob_bytes);  // blobs plus the rendered tree
    EXPECT_TRUE(store->verify().empty());
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(tmp_locks().empty());
    EXPECT_EQ(store->manifest_json(info.id),
              read_file(layout / "blobs/sha256" / m["digest"].get<std::string>().substr(7)));
}

TEST_F(ImportTest, WritesThroughSymlinksInsideTheTree) {
    // Merged-/usr style links resolve inside the tree, also for parents created on the way.
    stdfs::path layout = tmp_ / "merged";
    std::string id =
        write_simple_layout(layout, {{dir("usr/lib"), symlink("lib", "usr/lib"), dir("usr/local"),
                                      symlink("usr/local/lib", "../lib")},
                                     {file("lib/new/deeper/file", "via link"),
                                      file("usr/local/lib/x", "x"), file("lib/.wh.gone", "")}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "");
    stdfs::path root = store->render_tree(id);
    EXPECT_EQ(read_file(root / "usr/lib/new/deeper/file"), "via link");
    EXPECT_EQ(read_file(root / "usr/lib/x"), "x");
    EXPECT_EQ(stdfs::read_symlink(root / "lib"), "usr/lib");
}

TEST_F(ImportTest, ModesDoNotDependOnTheUmask) {
    stdfs::path layout = tmp_ / "umask";
    std::string id = write_simple_layout(layout, {{file("implicit/parent/f", "x", 0644)}});
    mode_t old = ::umask(077);
    auto store = open_store();
    stdfs::path root;
    try {
        store->import_oci_layout(layout, "", "");
        root = store->render_tree(id);
    } catch (...) {
        ::umask(old);
        throw;
    }
    ::umask(old);
    auto mode_of = [](const stdfs::path& p) {
        struct stat st {};
        EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
        return st.st_mode & 07777;
    };
    EXPECT_EQ(mode_of(root), 0755u);
    EXPECT_EQ(mode_of(root.parent_path()), 0755u);
    EXPECT_EQ(mode_of(root / "implicit"), 0755u);
    EXPECT_EQ(mode_of(root / "implicit/parent"), 0755u);
    EXPECT_EQ(mode_of(root / "implicit/parent/f"), 0644u);
}

TEST_F(ImportTest, ReimportChecksOnlyTheManifest) {
    stdfs::path layout = tmp_ / "img";
    std::string id = write_simple_layout(layout, {{file("hello", "world")}});
    auto store = open_store();
    ImageInfo first = store->import_oci_layout(layout, "", "");
    struct stat before {};
    ASSERT_EQ(::stat((cas() / "tree" / id / ".rendered").c_str(), &before), 0);

    // Spoil every layer blob of the source: a re-import that read them again would fail.
    nlohmann::json manifest = nlohmann::json::parse(store->manifest_json(id));
    for (const auto& l : manifest["layers"])
        write_file(layout / "blobs/sha256" / l["digest"].get<std::string>().substr(7), "spoiled");
    ImageInfo second = store->import_oci_layout(layout, "", "again");
    EXPECT_EQ(second.id, first.id);
    EXPECT_EQ(second.name, "again");
    EXPECT_EQ(second.names, (std::vector<std::string>{"again:latest", "img:latest"}));
    struct stat after {};
    ASSERT_EQ(::stat((cas() / "tree" / id / ".rendered").c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino);
    EXPECT_EQ(store->list().size(), 1u);
}

TEST_F(ImportTest, NamesComeFromRefAnnotationsOrTheDirectory) {
    stdfs::path layout = tmp_ / "multi";
    LayoutWriter w(layout);
    auto l1 = make_layer({file("v", "1")});
    auto l2 = make_layer({file("v", "2")});
    nlohmann::json m1 = w.add_image({l1}, make_config({l1.diff_id}));
    nlohmann::json m2 = w.add_image({l2}, make_config({l2.diff_id}));
    m1["annotations"] = {{"org.opencontainers.image.ref.name", "v1"}};
    m2["annotations"] = {{"org.opencontainers.image.ref.name", "example.com/tools/inspect:2.0"}};
    w.write_index({m1, m2});

    auto store = open_store();
    EXPECT_ERROR_CONTAINS(store->import_oci_layout(layout, "", ""), "select one by tag");
    EXPECT_ERROR_CONTAINS(store->import_oci_layout(layout, "v3", ""), "no image tagged \"v3\"");
    ImageInfo a = store->import_oci_layout(layout, "v1", "");
    EXPECT_EQ(a.name, "multi");
    EXPECT_EQ(a.tag, "v1");
    ImageInfo b = store->import_oci_layout(layout, "2.0", "");
    EXPECT_EQ(b.name, "example.com/tools/inspect");
    EXPECT_EQ(b.tag, "2.0");
    ImageInfo c = store->import_oci_layout(layout, "v1", "registry:5000/me/thing");
    EXPECT_EQ(c.id, a.id);
    EXPECT_EQ(c.name, "registry:5000/me/thing");
    EXPECT_EQ(c.tag, "v1");
    EXPECT_EQ(read_file(store->render_tree(b.id) / "v"), "2");
}

TEST_F(ImportTest, NestedIndexSelectsThisPlatform) {
    stdfs::path layout = tmp_ / "multiarch";
    LayoutWriter w(layout);
    auto arm = make_layer({file("arch", "arm64")});
    auto amd = make_layer({file("arch", "amd64")});
    nlohmann::json marm = w.add_image({arm}, make_config({arm.diff_id}, "arm64"));
    nlohmann::json mamd = w.add_image({amd}, make_config({amd.diff_id}, "amd64"));
    marm["platform"] = {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}};
    mamd["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
    nlohmann::json attestation = marm;
    attestation["platform"] = {{"os", "unknown"}, {"architecture", "unknown"}};
    nlohmann::json nested = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.index.v1+json"},
                             {"manifests", {attestation, marm, mamd}}};
    std::string nested_bytes = nested.dump();
    w.add_blob(nested_bytes);
    w.write_index({descriptor("application/vnd.oci.image.index.v1+json", nested_bytes,
                              {{"org.opencontainers.image.ref.name", "latest"}})});

    auto store = open_store();
    ImageInfo info = store->import_oci_layout(layout, "", "");
    EXPECT_EQ(info.id, "sha256-" + mamd["digest"].get<std::string>().substr(7));
    EXPECT_EQ(read_file(store->render_tree(info.id) / "arch"), "amd64");
}

TEST_F(ImportTest, RefusesImagesForOtherPlatforms) {
    stdfs::path only_arm = tmp_ / "arm";
    {
        LayoutWriter w(only_arm);
        auto arm = make_layer({file("arch", "arm64")});
        nlohmann::json m = w.add_image({arm}, make_config({arm.diff_id}, "arm64"));
        m["platform"] = {{"os", "linux"}, {"architecture", "arm64"}};
        w.write_index({m});
    }
    stdfs::path arm_config = tmp_ / "arm-config";
    {
        LayoutWriter w(arm_config);
        auto arm = make_layer({file("arch", "arm64")});
        w.write_index({w.add_image({arm}, make_config({arm.diff_id}, "arm64"))});
    }
    auto store = open_store();
    EXPECT_ERROR_CONTAINS(store->import_oci_layout(only_arm, "", ""),
                          "image is for arm64/linux; this machine runs amd64/linux");
    EXPECT_ERROR_CONTAINS(store->import_oci_layout(arm_config, "", ""),
                          "image is for arm64/linux; this machine runs amd64/linux");
    EXPECT_TRUE(store->list().empty());
    EXPECT_TRUE(blobs().empty());
}

TEST_F(ImportTest, AcceptsDockerSchema2MediaTypes) {
    stdfs::path layout = tmp_ / "docker";
    LayoutWriter w(layout);
    auto layer = make_layer({file("from", "docker")});
    layer.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    nlohmann::json m = w.add_image({layer}, make_config({layer.diff_id}), nullptr,
                                   "application/vnd.docker.distribution.manifest.v2+json");
    w.write_index({m});
    auto store = open_store();
    ImageInfo info = store->import_oci_layout(layout, "", "");
    EXPECT_EQ(read_file(store->render_tree(info.id) / "from"), "docker");
}

TEST_F(ImportTest, MediaTypeAndMagicMayDisagree) {
    // Some tools label plain tars as gzip; the data's magic decides.
    stdfs::path layout = tmp_ / "mislabelled";
    LayoutWriter w(layout);
    auto layer = make_layer({file("f", "plain")}, TarCompression::kNone);
    layer.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    w.write_index({w.add_image({layer}, make_config({layer.diff_id}))});
    auto store = open_store();
    ImageInfo info = store->import_oci_layout(layout, "", "");
    EXPECT_EQ(read_file(store->render_tree(info.id) / "f"), "plain");
}

TEST_F(ImportTest, ExportedArchiveImportsAsTheSameImage) {
    stdfs::path layout = tmp_ / "exp";
    write_simple_layout(layout, {{file("a", "1")}, {file("b", "2")}}, TarCompression::kZstd);
    ImageInfo info;
    {
        auto store = open_store();
        info = store->import_oci_layout(layout, "", "example.com/exp:1.0");
        store->export_oci_archive(info.id, tmp_ / "exp.tar");
    }
    data_ = tmp_ / "other";
    auto other = open_store();
    ImageInfo again = other->import_archive(tmp_ / "exp.tar", "", "");
    EXPECT_EQ(again.id, info.id);
    EXPECT_EQ(again.name, "example.com/exp");
    EXPECT_EQ(again.tag, "1.0");
    EXPECT_EQ(read_file(other->render_tree(again.id) / "b"), "2");
    EXPECT_TRUE(other->verify().empty());
}

TEST_F(ImportTest, BuildsAnErofsImage) {
    if (!find_executable("mkfs.erofs")) GTEST_SKIP() << "mkfs.erofs (erofs-utils) is not installed";
    stdfs::path layout = tmp_ / "ero";
    std::string id = write_simple_layout(layout, {{file("etc/motd", "hi"), symlink("l", "etc")}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "");
    stdfs::path img = store->erofs_image(id);
    EXPECT_EQ(img, cas() / "erofs" / (id + ".img"));
    std::string bytes = read_file(img);
    ASSERT_GT(bytes.size(), 1028u);
    // EROFS superblock magic 0xE0F5E1E2 at offset 1024, little-endian.
    EXPECT_EQ(static_cast<unsigned char>(bytes[1024]), 0xe2);
    EXPECT_EQ(static_cast<unsigned char>(bytes[1025]), 0xe1);
    EXPECT_EQ(static_cast<unsigned char>(bytes[1026]), 0xf5);
    EXPECT_EQ(static_cast<unsigned char>(bytes[1027]), 0xe0);
    EXPECT_EQ(store->erofs_image(id), img);  // built once
    EXPECT_TRUE(tmp_entries().empty());
    store->remove(id);
    EXPECT_FALSE(exists_nofollow(img));
}

TEST_F(ImportTest, DeviceNodesAndXattrsAsRoot) {
    if (::geteuid() != 0) GTEST_SKIP() << "device nodes and ownership need root";
    TarEntry null_dev;
    null_dev.type = Type::kCharDevice;
    null_dev.path = "dev/null";
    null_dev.mode = 0666;
    null_dev.dev_major = 1;
    null_dev.dev_minor = 3;
    TarEntry fifo;
    fifo.type = Type::kFifo;
    fifo.path = "run/pipe";
    fifo.mode = 0600;
    TarEntry with_xattr = file("bin/ping", "ping");
    with_xattr.xattrs["user.rkt-test"] = "value";
    stdfs::path layout = tmp_ / "dev";
    std::string id = write_simple_layout(layout, {{null_dev, fifo, with_xattr}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "");
    stdfs::path root = store->render_tree(id);
    struct stat st {};
    ASSERT_EQ(::lstat((root / "dev/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
    ASSERT_EQ(::lstat((root / "run/pipe").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    char value[16] = {};
    ssize_t n = ::getxattr((root / "bin/ping").c_str(), "user.rkt-test", value, sizeof value);
    if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
        GTEST_SKIP() << "the test file system does not support user xattrs";
    EXPECT_EQ(std::string(value, n > 0 ? static_cast<size_t>(n) : 0), "value");
}

TEST_F(ImportTest, ImageConfigRoundTripsThroughJson) {
    ImageConfig c;
    c.entrypoint = {"/bin/app"};
    c.cmd = {"--flag"};
    c.env = {{"A", "1"}};
    c.user = "nobody";
    c.working_dir = "/srv";
    c.labels = {{"k", "v"}};
    c.exposed_ports = {"53/udp"};
    c.volumes = {"/var/lib"};
    ImageConfig back = ImageConfig::from_json(c.to_json());
    EXPECT_EQ(back.to_json(), c.to_json());
    EXPECT_THROW(ImageConfig::from_json(nlohmann::json{{"env", 3}}), rkt::Error);
}

}  // namespace
}  // namespace rkt::store::testing
