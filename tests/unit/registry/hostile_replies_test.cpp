// Replies a hostile or broken registry sends, through the real client and libcurl, against a
// scripted registry: whatever comes back, a failure is one rkt::Error that keeps the HTTP status
// and what to do about it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "scripted_registry.h"
#include "stage0/registry/registry_client.h"
#include "stage0/registry/signatures.h"
#include "stage0/trust/keys.h"

using namespace rkt::registry;
using rkt::registry::test::ScriptedRegistry;
using rkt::registry::test::ScriptedRequest;
using rkt::registry::test::ScriptedResponse;
using json = nlohmann::json;

namespace {

const std::string kImageDigest = "sha256:" + std::string(64, 'd');
const std::string kOldPayloadDigest = "sha256:" + std::string(64, 'e');

ClientOptions plain_http() {
    ClientOptions o;
    o.transport.allow_http = true;
    return o;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const rkt::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
}

json simple_signing_layer(const std::string& digest, const std::string& signature) {
    return {{"mediaType", std::string(media::kSimpleSigning)},
            {"digest", digest},
            {"size", 5},
            {"annotations", {{std::string(kSignatureAnnotation), signature}}}};
}

// A signature manifest whose layers are anything but descriptors, next to one good layer: as a
// whole it is not a manifest, so adding a signature replaces it.
std::string hostile_signature_manifest() {
    json layers = json::array({3,
                               "layer",
                               {{"mediaType", std::string(media::kSimpleSigning)}},
                               {{"mediaType", std::string(media::kSimpleSigning)},
                                {"digest", 7},
                                {"annotations", {{std::string(kSignatureAnnotation), 1}}}},
                               simple_signing_layer(kOldPayloadDigest, "b2xk")});
    return json{{"schemaVersion", 2},
                {"mediaType", std::string(media::kOciManifest)},
                {"config",
                 {{"mediaType", std::string(media::kOciConfig)},
                  {"digest", "sha256:" + std::string(64, 'c')},
                  {"size", 2}}},
                {"layers", layers}}
        .dump();
}

}  // namespace

TEST(HostileReplies, ErrorBodyOfAnyShapeKeepsTheStatusAndTheCredentialsHint) {
    ScriptedRegistry registry([](const ScriptedRequest& r) -> ScriptedResponse {
        if (r.path == "/v2/") return {200, {}, "{}"};
        return {403,
                {"Content-Type: application/json"},
                R"({"errors":[{"code":"DENIED","message":{"why":["no"]},"detail":7}]})"};
    });
    RegistryClient client(parse_reference(registry.host() + "/x/test:v1"), plain_http());
    client.ping(client.http());
    std::string msg = error_of([&] { client.find_manifest(client.http(), "v1"); });
    EXPECT_NE(msg.find("HTTP 403 (DENIED)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("needs credentials for " + registry.host()), std::string::npos) << msg;
}

TEST(HostileReplies, PushSignatureReplacesAMalformedSignatureManifest) {
    const std::string sig_path = "/v2/x/test/manifests/" + signature_tag(kImageDigest);
    ScriptedRegistry registry([&](const ScriptedRequest& r) -> ScriptedResponse {
        if (r.path == "/v2/") return {200, {}, "{}"};
        if (r.method == "GET" && r.path == sig_path)
            return {200,
                    {"Content-Type: " + std::string(media::kOciManifest)},
                    hostile_signature_manifest()};
        if (r.method == "HEAD") return {200, {}, ""};  // every blob is already there
        if (r.method == "PUT" && r.path == sig_path) return {201, {}, ""};
        return {404, {}, R"({"errors":[{"code":"NOT_FOUND"}]})"};
    });
    RegistryClient client(parse_reference(registry.host() + "/x/test:v1"), plain_http());
    client.ping(client.http());
    rkt::trust::Signature sig{"payload", "signature"};
    push_signature(client, client.http(), kImageDigest, sig);

    std::string pushed;
    for (const auto& r : registry.requests())
        if (r.method == "PUT" && r.path == sig_path) pushed = r.body;
    ASSERT_FALSE(pushed.empty());
    Manifest m = parse_manifest(pushed, media::kOciManifest, true);
    ASSERT_EQ(m.layers.size(), 1u);
    EXPECT_EQ(m.layers[0].digest, rkt::sha256_digest("payload"));
    EXPECT_EQ(m.layers[0].annotations.at(std::string(kSignatureAnnotation)),
              rkt::trust::base64_encode("signature"));
}

TEST(SignaturesToKeep, DropsTheOneBeingAddedAndEverythingElse) {
    const std::string added = "sha256:" + std::string(64, 'f');
    json layers = json::array(
        {simple_signing_layer(kOldPayloadDigest, "b2xk"),
         simple_signing_layer(added, "bmV3"),  // the one being added
         simple_signing_layer(added, "b3RoZXI="),
         {{"mediaType", "application/octet-stream"}, {"digest", kOldPayloadDigest}, {"size", 1}}});
    json manifest = {{"schemaVersion", 2},
                     {"config",
                      {{"mediaType", std::string(media::kOciConfig)},
                       {"digest", "sha256:" + std::string(64, 'c')},
                       {"size", 2}}},
                     {"layers", layers}};
    auto keep = signatures_to_keep(manifest.dump(), "", added, "bmV3");
    ASSERT_EQ(keep.size(), 2u);
    EXPECT_EQ(keep[0].digest, kOldPayloadDigest);
    EXPECT_EQ(keep[1].annotations.at(std::string(kSignatureAnnotation)), "b3RoZXI=");
    EXPECT_TRUE(signatures_to_keep("not json", "", added, "bmV3").empty());
    EXPECT_TRUE(signatures_to_keep(hostile_signature_manifest(), "", added, "bmV3").empty());
}
