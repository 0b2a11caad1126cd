#include "stage0/registry/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

using namespace rkt::registry;
using json = nlohmann::json;

namespace {

std::string digest_of(char c) {
    return "sha256:" + std::string(64, c);
}

json descriptor(std::string_view type, char c, uint64_t size = 10) {
    return {{"mediaType", std::string(type)}, {"digest", digest_of(c)}, {"size", size}};
}

json image_manifest(std::string_view type = media::kOciManifest) {
    return {{"schemaVersion", 2},
            {"mediaType", std::string(type)},
            {"config", descriptor(media::kOciConfig, 'c')},
            {"layers",
             {descriptor("application/vnd.oci.image.layer.v1.tar+gzip", 'a'),
              descriptor("application/vnd.oci.image.layer.v1.tar+zstd", 'b')}}};
}

json index_entry(char c, std::string os, std::string arch, std::string variant = "",
                 std::string_view type = media::kOciManifest) {
    json e = descriptor(type, c);
    e["platform"] = {{"os", os}, {"architecture", arch}};
    if (!variant.empty()) e["platform"]["variant"] = variant;
    return e;
}

}  // namespace

TEST(Manifest, ParsesOciImageManifest) {
    auto m = parse_manifest(image_manifest().dump(), std::string(media::kOciManifest));
    EXPECT_FALSE(m.is_index);
    EXPECT_EQ(m.config.digest, digest_of('c'));
    ASSERT_EQ(m.layers.size(), 2u);
    EXPECT_EQ(m.layers[1].digest, digest_of('b'));
}

TEST(Manifest, ParsesDockerSchema2) {
    json j = image_manifest(media::kDockerManifest);
    j["config"]["mediaType"] = std::string(media::kDockerConfig);
    j["layers"] = {descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", 'a')};
    auto m = parse_manifest(j.dump(),
                            "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8");
    EXPECT_EQ(m.media_type, media::kDockerManifest);
    EXPECT_EQ(m.layers.size(), 1u);
}

TEST(Manifest, MediaTypeFromHeaderOrStructure) {
    json j = image_manifest();
    j.erase("mediaType");
    EXPECT_EQ(parse_manifest(j.dump(), "").media_type, media::kOciManifest);
    json idx = {{"schemaVersion", 2}, {"manifests", json::array()}};
    EXPECT_TRUE(parse_manifest(idx.dump(), "").is_index);
}

TEST(Manifest, RejectsHostileOrUnsupported) {
    auto expect_error = [](const json& j, const std::string& fragment, std::string ct = "") {
        try {
            parse_manifest(j.dump(), ct);
            ADD_FAILURE() << "accepted " << j.dump();
        } catch (const rkt::Error& e) {
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    expect_error({{"schemaVersion", 1}, {"name", "x"}}, "schema 1");
    json j = image_manifest();
    j["layers"][0]["digest"] = "sha256:zz";
    expect_error(j, "malformed digest");
    j = image_manifest();
    j["layers"][0]["digest"] = "sha512:" + std::string(128, 'a');
    expect_error(j, "only sha256");
    j = image_manifest();
    j["layers"][0]["size"] = -1;
    expect_error(j, "no valid size");
    j = image_manifest();
    j["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    expect_error(j, "foreign");
    j = image_manifest();
    j["layers"][0]["urls"] = {"http://elsewhere/x"};
    expect_error(j, "foreign");
    j = image_manifest();
    j["config"]["mediaType"] = "application/vnd.example.artifact";
    expect_error(j, "not a container image config");
    j = image_manifest();
    expect_error(j, "content says", std::string(media::kDockerManifest));
    expect_error(json::array(), "not a JSON object");
    j = image_manifest();
    j["layers"] = json::array();
    for (int i = 0; i < 1001; ++i)
        j["layers"].push_back(descriptor("application/vnd.oci.image.layer.v1.tar", 'a'));
    expect_error(j, "more than 1000");
}

TEST(Manifest, SignatureManifestsAcceptAnyLayerType) {
    json j = image_manifest();
    j["layers"] = {descriptor(media::kSimpleSigning, 'd')};
    j["layers"][0]["annotations"] = {{"dev.cosignproject.cosign/signature", "AAAA"}};
    EXPECT_THROW(parse_manifest(j.dump(), ""), rkt::Error);
    auto m = parse_manifest(j.dump(), "", true);
    EXPECT_EQ(m.layers[0].annotations.at("dev.cosignproject.cosign/signature"), "AAAA");
}

TEST(Platform, SelectsFirstMatchAndSkipsUnknownEntries) {
    json idx = {{"schemaVersion", 2},
                {"mediaType", std::string(media::kOciIndex)},
                {"manifests",
                 {index_entry('1', "linux", "arm64", "v8"),
                  index_entry('2', "linux", "amd64", "", "application/vnd.example.unknown"),
                  index_entry('3', "windows", "amd64"), index_entry('4', "linux", "amd64"),
                  index_entry('5', "linux", "amd64")}}};
    auto m = parse_manifest(idx.dump(), "");
    ASSERT_TRUE(m.is_index);
    auto d = select_platform(m, {"linux", "amd64", ""});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->digest, digest_of('4'));
    auto arm = select_platform(m, {"linux", "arm64", "v8"});
    ASSERT_TRUE(arm);
    EXPECT_EQ(arm->digest, digest_of('1'));
    EXPECT_FALSE(select_platform(m, {"linux", "arm", "v7"}));
    EXPECT_FALSE(select_platform(m, {"linux", "s390x", ""}));
}

TEST(Platform, VariantMustAgreeWhenBothSayOne) {
    json idx = {{"schemaVersion", 2},
                {"manifests",
                 {index_entry('6', "linux", "arm", "v6"), index_entry('7', "linux", "arm", "v7")}}};
    auto m = parse_manifest(idx.dump(), std::string(media::kOciIndex));
    EXPECT_EQ(select_platform(m, {"linux", "arm", "v7"})->digest, digest_of('7'));
}

TEST(Platform, HostIsLinux) {
    auto p = host_platform();
    EXPECT_EQ(p.os, "linux");
    EXPECT_FALSE(p.architecture.empty());
}

TEST(Accept, NamesEveryManifestType) {
    std::string a = manifest_accept_header();
    for (auto t :
         {media::kOciIndex, media::kOciManifest, media::kDockerList, media::kDockerManifest})
        EXPECT_NE(a.find(t), std::string::npos) << t;
}
