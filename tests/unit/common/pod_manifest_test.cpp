#include "common/pod_manifest.h"

#include <gtest/gtest.h>

#include "common/app_environment.h"
#include "common/error.h"

using rkt::PodManifest;

TEST(PodManifest, RoundTrips) {
    PodManifest pm;
    rkt::RuntimeApp app;
    app.name = "inspect";
    app.image = {"example.com/inspect:1", "sha256-" + std::string(64, 'a')};
    app.app.exec = {"/inspect", "--print-msg=hi"};
    app.app.user = "1000";
    app.app.set_env("PATH", "/bin");
    app.app.set_isolator("resource/memory", {{"limit", "50M"}});
    app.mounts.push_back({"data", "/data"});
    pm.apps.push_back(app);
    pm.volumes.push_back({"data", "host", "/srv", true, false, "0755", 0, 0});
    PodManifest back = PodManifest::parse(pm.serialize());
    ASSERT_EQ(back.apps.size(), 1u);
    EXPECT_EQ(back.apps[0].app.exec, app.app.exec);
    EXPECT_EQ(*back.apps[0].app.env("PATH"), "/bin");
    EXPECT_EQ(back.apps[0].app.find_isolator("resource/memory")->value["limit"], "50M");
    EXPECT_EQ(back.volumes[0].source, "/srv");
    EXPECT_TRUE(back.volumes[0].read_only);
    EXPECT_EQ(back.to_json()["acKind"], "PodManifest");
}

TEST(PodManifest, RejectsHostileInput) {
    EXPECT_THROW(PodManifest::parse("{"), rkt::Error);
    EXPECT_THROW(PodManifest::parse("[]"), rkt::Error);
    EXPECT_THROW(PodManifest::parse(R"({"acKind":"ImageManifest"})"), rkt::Error);
    EXPECT_THROW(PodManifest::parse(
                     R"({"acKind":"PodManifest","apps":[{"name":"../x","image":{"id":"x"}}]})"),
                 rkt::Error);
    EXPECT_THROW(
        PodManifest::parse(
            R"({"acKind":"PodManifest","apps":[{"name":"a","image":{"id":"x"}},{"name":"a","image":{"id":"y"}}]})"),
        rkt::Error);
    EXPECT_THROW(
        PodManifest::parse(
            R"({"acKind":"PodManifest","apps":[{"name":"a","image":{"id":"x"},"app":{"exec":[1]}}]})"),
        rkt::Error);
}

TEST(EmptyVolumeMode, ParsesOctalAndRefusesTheRest) {
    rkt::Volume v;
    v.name = "data";
    v.mode = "";
    EXPECT_EQ(rkt::empty_volume_mode(v), 0755u);
    v.mode = "0700";
    EXPECT_EQ(rkt::empty_volume_mode(v), 0700u);
    v.mode = "4777";
    EXPECT_EQ(rkt::empty_volume_mode(v), 04777u);
    for (const char* bad : {"0abc", "-1", "8", "07 7", "0x1ff"}) {
        v.mode = bad;
        try {
            rkt::empty_volume_mode(v);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const rkt::Error& e) {
            EXPECT_NE(std::string(e.what()).find("is not an octal mode"), std::string::npos)
                << e.what();
        }
    }
    v.mode = "17777";
    EXPECT_THROW(rkt::empty_volume_mode(v), rkt::Error);
    v.mode = std::string(40, '7');  // would overflow without the bound
    EXPECT_THROW(rkt::empty_volume_mode(v), rkt::Error);
}

TEST(AppEnvironment, AddsAppcDefaultsAndRefusesBadNames) {
    rkt::RuntimeApp app;
    app.name = "web";
    app.app.set_env("MODE", "x");
    auto env = rkt::app_environment(app, "/root");
    EXPECT_EQ(env, (std::vector<std::string>{
                       "MODE=x", std::string("PATH=") + std::string(rkt::kDefaultAppPath),
                       "HOME=/root", "AC_APP_NAME=web"}));
    app.app.set_env("PATH", "/bin");
    app.app.set_env("TERM", "vt100");
    env = rkt::app_environment(app, "/home/u", "xterm");
    EXPECT_EQ(env, (std::vector<std::string>{"MODE=x", "PATH=/bin", "TERM=vt100", "HOME=/home/u",
                                             "AC_APP_NAME=web"}));
    app.app.environment.push_back({"A=B", "c"});
    EXPECT_THROW(rkt::app_environment(app, "/"), rkt::Error);
}

// The ids a stage1 reads back: a float, a string, a negative or a too-wide number is an error
// (they once overflowed a float conversion, threw a JSON type error, wrapped to 4294967295, or
// truncated 4294967296 to gid 0).
TEST(PodManifest, RefusesIdsThatAreNotUint32) {
    auto with_volume_id = [](const std::string& key, const std::string& value) {
        return R"({"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"empty",")" +
               key + R"(":)" + value + "}]}";
    };
    for (const std::string key : {"uid", "gid"}) {
        for (const std::string bad : {"1e30", "1.5", "\"x\"", "-1", "4294967296", "true"})
            EXPECT_THROW(PodManifest::parse(with_volume_id(key, bad)), rkt::Error) << key << bad;
        EXPECT_EQ(
            PodManifest::parse(with_volume_id(key, "4294967295")).to_json()["volumes"][0][key],
            4294967295u);
    }
    for (const std::string bad : {"4294967296", "-1", "1e30", "\"5\""})
        EXPECT_THROW(PodManifest::parse(R"({"acKind":"PodManifest","apps":[{"name":"a","image":)"
                                        R"({"id":"x"},"app":{"supplementaryGIDs":[)" +
                                        bad + "]}}]}"),
                     rkt::Error)
            << bad;
}
