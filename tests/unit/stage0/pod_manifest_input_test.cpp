#include "stage0/pod/pod_manifest_input.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "stage0/pod/pod_spec_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kId = "sha256-" + std::string(64, 'a');

json good_manifest() {
    return json::parse(R"({
        "acKind": "PodManifest",
        "acVersion": "0.8.11",
        "apps": [
            {"name": "web",
             "image": {"name": "example.com/web", "labels": [{"name": "version", "value": "1.0"}]},
             "app": {"exec": ["/inspect", "--print-msg=hi"], "user": "1000", "group": "1000",
                     "supplementaryGIDs": [5, 6], "workingDirectory": "/srv",
                     "environment": [{"name": "A", "value": "1"}],
                     "isolators": [{"name": "resource/memory", "value": {"limit": "50M"}}],
                     "mountPoints": [{"name": "data", "path": "/data", "readOnly": true}]},
             "readOnlyRootFS": true,
             "mounts": [{"volume": "data", "path": "data/../data/"}],
             "annotations": [{"name": "k", "value": "v"}]},
            {"name": "side", "image": {"id": "sha256-abcdef"}}
        ],
        "volumes": [{"name": "data", "kind": "empty", "mode": "0700", "uid": 1, "gid": 2}],
        "isolators": [],
        "annotations": [{"name": "pod", "value": "yes"}],
        "ports": []
    })");
}

// The message of the Error that parsing `j` throws; fails the test when it does not throw.
std::string error_of(const std::string& text) {
    try {
        rkt::parse_pod_manifest_input(text);
    } catch (const rkt::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "accepted: " << text.substr(0, 200);
    return "";
}

std::string error_of(const json& j) {
    return error_of(j.dump());
}

#define EXPECT_REFUSED(input, needle)                                          \
    do {                                                                       \
        std::string msg_ = error_of(input);                                    \
        EXPECT_NE(msg_.find(needle), std::string::npos) << msg_;               \
        EXPECT_EQ(msg_.find('\n'), std::string::npos) << "one line: " << msg_; \
    } while (0)

}  // namespace

TEST(PodManifestInput, ParsesAGoodManifest) {
    auto in = rkt::parse_pod_manifest_input(good_manifest().dump());
    ASSERT_EQ(in.intent.apps.size(), 2u);
    ASSERT_EQ(in.images.size(), 2u);
    const rkt::AppIntent& web = in.intent.apps[0];
    EXPECT_EQ(*web.name, "web");
    EXPECT_EQ(*web.exec, "/inspect");
    ASSERT_TRUE(web.args);
    EXPECT_EQ(*web.args, std::vector<std::string>{"--print-msg=hi"});
    EXPECT_EQ(*web.user, "1000");
    EXPECT_EQ(*web.group, "1000");
    EXPECT_EQ(web.supplementary_gids, (std::vector<uint32_t>{5, 6}));
    EXPECT_EQ(*web.working_dir, "/srv");
    ASSERT_EQ(web.environment.size(), 1u);
    EXPECT_EQ(web.environment[0].value, "1");
    ASSERT_EQ(web.isolators.size(), 1u);
    EXPECT_EQ(web.isolators[0].value["limit"], "50M");
    ASSERT_EQ(web.mount_points.size(), 1u);
    EXPECT_TRUE(web.mount_points[0].read_only);
    EXPECT_TRUE(web.read_only_rootfs);
    ASSERT_EQ(web.mounts.size(), 1u);
    EXPECT_EQ(web.mounts[0].path, "/data");  // normalised inside the app
    EXPECT_EQ(web.annotations.at("k"), "v");
    EXPECT_FALSE(web.inherit_env);
    EXPECT_EQ(in.images[0].name, "example.com/web");
    EXPECT_EQ(in.images[0].describe(), "example.com/web:1.0");

    // An app without "app" takes everything from its image.
    const rkt::AppIntent& side = in.intent.apps[1];
    EXPECT_FALSE(side.exec || side.args || side.user || side.group || side.working_dir);
    EXPECT_EQ(in.images[1].id, "sha256-abcdef");

    ASSERT_EQ(in.intent.volumes.size(), 1u);
    EXPECT_EQ(in.intent.volumes[0].mode, "0700");
    EXPECT_EQ(in.intent.volumes[0].uid, 1u);
    EXPECT_EQ(in.intent.annotations.at("pod"), "yes");
}

TEST(PodManifestInput, AcceptsWhatCatManifestPrints) {
    rkt::PodManifest pm;
    rkt::RuntimeApp app;
    app.name = "inspect";
    app.image = {"example.com/inspect:latest", kId};
    app.app.exec = {"/inspect"};
    app.app.set_env("PATH", "/bin");
    app.mounts.push_back({"v", "/v"});
    pm.apps.push_back(app);
    pm.volumes.push_back({"v", "empty", "", false, false, "0755", 0, 0});
    auto in = rkt::parse_pod_manifest_input(pm.serialize(true));
    ASSERT_EQ(in.images.size(), 1u);
    EXPECT_EQ(in.images[0].id, kId);
    EXPECT_EQ(*in.intent.apps[0].user, "0");
}

TEST(PodManifestInput, RefusesWhatIsNotAPodManifest) {
    EXPECT_REFUSED(std::string("{"), "not valid JSON");
    EXPECT_REFUSED(std::string("not json at all"), "not valid JSON");
    EXPECT_REFUSED(std::string(""), "not valid JSON");
    EXPECT_REFUSED(std::string("[]"), "must be a JSON object");
    EXPECT_REFUSED(std::string("\"PodManifest\""), "must be a JSON object");

    json j = good_manifest();
    j["acKind"] = "ImageManifest";
    EXPECT_REFUSED(j, "acKind");
    j = good_manifest();
    j.erase("acKind");
    EXPECT_REFUSED(j, "acKind");
    j = good_manifest();
    j["acVersion"] = "1.2.3";
    EXPECT_REFUSED(j, "acVersion");
    j["acVersion"] = "zero";
    EXPECT_REFUSED(j, "acVersion");
    j["acVersion"] = 8;
    EXPECT_REFUSED(j, "acVersion");
    j = good_manifest();
    j.erase("acVersion");
    EXPECT_REFUSED(j, "acVersion");
    j = good_manifest();
    j["acVersion"] = "0.7.4+git";
    EXPECT_NO_THROW(rkt::parse_pod_manifest_input(j.dump()));
    j = good_manifest();
    j["volume"] = json::array();  // misspelt "volumes"
    EXPECT_REFUSED(j, "unknown field \"volume\"");
}

TEST(PodManifestInput, RefusesHugeAndDeepInput) {
    std::string huge = good_manifest().dump();
    huge.append(rkt::kMaxPodManifestBytes, ' ');
    EXPECT_REFUSED(huge, "limit");
    std::string deep = R"({"acKind":"PodManifest","acVersion":"0.8.11","annotations":)" +
                       std::string(10000, '[') + std::string(10000, ']') + "}";
    EXPECT_REFUSED(deep, "nested deeper");

    json j = good_manifest();
    json many = json::array();
    for (size_t i = 0; i <= rkt::kMaxPodManifestApps; ++i)
        many.push_back(
            {{"name", std::string("a").append(std::to_string(i))}, {"image", {{"id", kId}}}});
    j["apps"] = many;
    EXPECT_REFUSED(j, "more than");
}

TEST(PodManifestInput, RefusesBadApps) {
    json j = good_manifest();
    j.erase("apps");
    EXPECT_REFUSED(j, "missing \"apps\"");
    j["apps"] = json::array();
    EXPECT_REFUSED(j, "at least one app");
    j["apps"] = json::object();
    EXPECT_REFUSED(j, "must be an array");

    j = good_manifest();
    j["apps"][1]["name"] = "web";
    EXPECT_REFUSED(j, "used twice");
    for (const char* bad : {"Web", "../x", "a_b", "-a", "", "a/b"}) {
        j = good_manifest();
        j["apps"][0]["name"] = bad;
        EXPECT_REFUSED(j, "not a valid name");
    }
    j = good_manifest();
    j["apps"][0]["name"] = 7;
    EXPECT_REFUSED(j, "must be a string");
    j = good_manifest();
    j["apps"][0]["app"]["userLabels"] = json::array({"a"});
    EXPECT_REFUSED(j, "must be an object of strings");
    j["apps"][0]["app"]["userLabels"] = {{"tier", 3}};
    EXPECT_REFUSED(j, "must be a string");
    j["apps"][0]["app"]["userAnnotations"] = {{"", "x"}};
    j["apps"][0]["app"].erase("userLabels");
    EXPECT_REFUSED(j, "empty or oversized key");
    j = good_manifest();
    j["apps"][0].erase("image");
    EXPECT_REFUSED(j, "missing \"image\"");
    j = good_manifest();
    j["apps"][0]["image"] = json::object();
    EXPECT_REFUSED(j, "\"id\" or \"name\"");
    j = good_manifest();
    j["apps"][0]["image"]["id"] = "sha512-abcdef";
    EXPECT_REFUSED(j, "not a store image id");
    j["apps"][0]["image"]["id"] = "sha256-ABCDEF";
    EXPECT_REFUSED(j, "not a store image id");
    j["apps"][0]["image"]["id"] = "sha256-abc";
    EXPECT_REFUSED(j, "not a store image id");
    j = good_manifest();
    j["apps"][0]["image"]["labels"].push_back({{"name", "channel"}, {"value", "alpha"}});
    EXPECT_REFUSED(j, "channel");
    j = good_manifest();
    j["apps"][0]["image"]["name"] = "example.com/web:2.0";  // and a version label
    EXPECT_REFUSED(j, "not both");
    j = good_manifest();
    j["apps"][0]["readOnlyRootFS"] = "yes";
    EXPECT_REFUSED(j, "true or false");
}

TEST(PodManifestInput, RefusesBadAppSections) {
    auto with_app = [](const char* key, json value) {
        json j = good_manifest();
        j["apps"][0]["app"][key] = std::move(value);
        return j;
    };
    EXPECT_REFUSED(with_app("exec", json::array({"inspect"})), "absolute path");
    EXPECT_REFUSED(with_app("exec", json::array({"./inspect"})), "absolute path");
    EXPECT_REFUSED(with_app("exec", json::array()), "must not be empty");
    EXPECT_REFUSED(with_app("exec", "/inspect"), "must be an array");
    EXPECT_REFUSED(with_app("exec", json::array({"/inspect", 5})), "must be a string");
    EXPECT_REFUSED(with_app("exec", json::array({std::string("/in\0spect", 9)})), "NUL");
    EXPECT_REFUSED(with_app("workingDirectory", "srv"), "absolute path");
    EXPECT_REFUSED(with_app("user", ""), "must not be empty");
    EXPECT_REFUSED(with_app("supplementaryGIDs", json::array({-1})), "whole number");
    EXPECT_REFUSED(with_app("supplementaryGIDs", json::array({uint64_t{1} << 32})), "whole number");
    EXPECT_REFUSED(with_app("environment", json::array({{{"name", "A=B"}, {"value", "x"}}})),
                   "not a variable name");
    EXPECT_REFUSED(with_app("environment", json::array({{{"name", ""}, {"value", "x"}}})),
                   "not a variable name");
    EXPECT_REFUSED(with_app("environment", json::array({{{"name", "A"}}})), "missing \"value\"");
    EXPECT_REFUSED(with_app("environment", json::array({{{"name", "A"}, {"value", "1"}},
                                                        {{"name", "A"}, {"value", "2"}}})),
                   "set twice");
    EXPECT_REFUSED(
        with_app("environment", json::array({{{"name", "A"}, {"value", "1"}, {"x", 1}}})),
        "unknown field");
    EXPECT_REFUSED(
        with_app("isolators", json::array({{{"name", "os/linux/made-up"}, {"value", {}}}})),
        "not supported");
    EXPECT_REFUSED(with_app("eventHandlers", json::array({{{"name", "pre-start"}}})),
                   "not supported");
    EXPECT_REFUSED(with_app("ports", json::array({{{"name", "http"}, {"port", 70000}}})), "65535");
    EXPECT_REFUSED(
        with_app("ports", json::array({{{"name", "http"}, {"port", 80}, {"protocol", "sctp"}}})),
        "tcp or udp");
    EXPECT_REFUSED(with_app("mountPoints", json::array({{{"name", "d"}, {"path", "rel"}}})),
                   "absolute");
    EXPECT_REFUSED(with_app("bogus", 1), "unknown field \"bogus\"");
}

TEST(PodManifestInput, RefusesBadVolumesAndMounts) {
    json j = good_manifest();
    j["volumes"][0]["kind"] = "nfs";
    EXPECT_REFUSED(j, "kind must be host or empty");
    j = good_manifest();
    j["volumes"][0].erase("kind");
    EXPECT_REFUSED(j, "missing \"kind\"");
    j = good_manifest();
    j["volumes"][0]["name"] = "Data";
    EXPECT_REFUSED(j, "not a valid volume name");
    j = good_manifest();
    j["volumes"][0]["mode"] = "999";
    EXPECT_REFUSED(j, "octal");
    j = good_manifest();
    j["volumes"][0]["uid"] = -5;
    EXPECT_REFUSED(j, "whole number");
    j = good_manifest();
    j["volumes"].push_back(j["volumes"][0]);
    EXPECT_REFUSED(j, "defined twice");
    j = good_manifest();
    j["volumes"][0] = {{"name", "data"}, {"kind", "host"}, {"source", "relative/dir"}};
    EXPECT_REFUSED(j, "absolute");
    j["volumes"][0]["source"] = "/this/directory/does/not/exist";
    EXPECT_REFUSED(j, "/this/directory/does/not/exist");
    j["volumes"][0]["source"] = "/";
    EXPECT_NO_THROW(rkt::parse_pod_manifest_input(j.dump()));

    j = good_manifest();
    j["apps"][0]["mounts"][0]["volume"] = "nope";
    EXPECT_REFUSED(j, "\"nope\" is not defined");
    j = good_manifest();
    j["apps"][0]["mounts"][0]["path"] = "/";
    EXPECT_REFUSED(j, "inside the app");
    j = good_manifest();
    j["apps"][0]["mounts"][0].erase("path");
    EXPECT_REFUSED(j, "missing \"path\"");

    j = good_manifest();
    j["isolators"] = json::array({{{"name", "resource/memory"}, {"value", {{"limit", "1G"}}}}});
    EXPECT_REFUSED(j, "pod-level isolators");
    j = good_manifest();
    j["ports"] = json::array({{{"name", "http"}, {"hostPort", 80}}});
    EXPECT_REFUSED(j, "port forwarding");
}

TEST(PodManifestInput, ReadsOnlyRegularFilesWithinTheLimit) {
    fs::path dir = fs::temp_directory_path() / ("rkt-podmanifest-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "good.json") << good_manifest().dump(2);
    EXPECT_EQ(rkt::read_pod_manifest_input(dir / "good.json").intent.apps.size(), 2u);
    {
        std::ofstream big(dir / "big.json");
        big << std::string(rkt::kMaxPodManifestBytes + 1, ' ');
    }
    auto message = [](const fs::path& p) -> std::string {
        try {
            rkt::read_pod_manifest_input(p);
        } catch (const rkt::Error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(message(dir / "big.json").find("limit"), std::string::npos);
    EXPECT_NE(message(dir / "missing.json").find("missing.json"), std::string::npos);
    EXPECT_NE(message(dir).find("not a regular file"), std::string::npos);
    fs::remove_all(dir);
}

// The pod-wide sums the kvm stage1 sizes its VM by read a quantity as the isolator does: a
// number is as good as a string (it once threw a JSON type error), and the sum saturates.
TEST(PodManifestInput, PodWideLimitsTakeNumbersAndSaturate) {
    auto app = [](const std::string& name, const json& memory) {
        rkt::RuntimeApp a;
        a.name = name;
        a.app.set_isolator("resource/memory", {{"limit", memory}});
        a.app.set_isolator("resource/cpu", {{"limit", "500m"}});
        return a;
    };
    rkt::PodManifest pm;
    pm.apps = {app("a", 1000000u), app("b", "1M")};
    EXPECT_EQ(rkt::total_memory_limit(pm), 2000000u);
    EXPECT_EQ(rkt::total_cpu_limit(pm), 1000u);
    pm.apps = {app("a", 18000000000000000000u), app("b", "18000000000000000000")};
    EXPECT_EQ(rkt::total_memory_limit(pm), UINT64_MAX);
    pm.apps = {};
    EXPECT_EQ(rkt::total_memory_limit(pm), std::nullopt);
}
