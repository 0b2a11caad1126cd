// Environment variable names from every input (flags, env files, pod manifests, image configs, the
// pod file a stage1 reads) and --hostname: refused in one line before any pod exists.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "common/pod_manifest.h"
#include "stage0/app_args.h"
#include "stage0/pod/pod_manifest_input.h"
#include "stage0/pod/pod_preparer.h"
#include "stage0/pod/pod_spec_builder.h"

namespace {

namespace fs = std::filesystem;

#define EXPECT_REFUSED_WITH(stmt, ...)                                                  \
    do {                                                                                \
        try {                                                                           \
            stmt;                                                                       \
            ADD_FAILURE() << "accepted: " #stmt;                                        \
        } catch (const rkt::Error& e) {                                                 \
            std::string m = e.what();                                                   \
            EXPECT_EQ(m.find('\n'), std::string::npos) << m;                            \
            for (const char* needle : {__VA_ARGS__})                                    \
                EXPECT_NE(m.find(needle), std::string::npos) << needle << " in: " << m; \
        }                                                                               \
    } while (0)

const std::vector<std::string> kBadNames = {"A\nB", "A B",    "A=B",
                                            "",     "TAB\tX", std::string("NUL\0X", 5)};

rkt::PodIntent intent_with(const std::vector<std::string>& app_args,
                           const rkt::PodFlags& flags = {}) {
    return rkt::pod_intent_from_flags(flags, rkt::parse_app_args(app_args, {}));
}

TEST(EnvNames, WhatAValidNameIs) {
    for (const char* ok : {"PATH", "_x1", "BASH_FUNC_f%%", "a.b", "lower", "X-Y"})
        EXPECT_TRUE(rkt::is_valid_env_name(ok)) << ok;
    for (const char* bad : {"A\nB", "A B", "A=B", "", "TAB\tX", "\x7f"})
        EXPECT_FALSE(rkt::is_valid_env_name(bad)) << bad;
    EXPECT_FALSE(rkt::is_valid_env_name(std::string_view("NUL\0X", 5)));
    EXPECT_FALSE(rkt::is_valid_env_name(std::string(1025, 'A')));
    EXPECT_FALSE(rkt::is_valid_env_name("\xc3\xa9"));  // not ASCII
}

TEST(EnvNames, FlagsAreRefused) {
    EXPECT_REFUSED_WITH(intent_with({"img", "--environment=A\nB=1"}), "--environment",
                        "\"A?B\" is not a variable name", "printable ASCII");
    EXPECT_REFUSED_WITH(intent_with({"img", "--environment=A B=1"}), "not a variable name");
    rkt::PodFlags flags;
    flags.set_env = {"A\tB=1"};
    EXPECT_REFUSED_WITH(intent_with({"img"}, flags), "--set-env", "not a variable name");
    flags.set_env = {"OK=value\nwith newline"};  // a value may hold anything but NUL
    EXPECT_EQ(intent_with({"img"}, flags).apps[0].environment[0].value, "value\nwith newline");
    flags.set_env = {std::string("OK=a\0b", 6)};
    EXPECT_REFUSED_WITH(intent_with({"img"}, flags), "NUL");
}

TEST(EnvNames, EnvFilesAreRefused) {
    fs::path f = fs::temp_directory_path() / ("rkt-envname-" + std::to_string(::getpid()));
    std::ofstream(f) << "GOOD=1\nBAD NAME=2\n";
    EXPECT_REFUSED_WITH(rkt::read_env_file(f), "line 2", "\"BAD NAME\" is not a variable name");
    fs::remove(f);
}

TEST(EnvNames, PodManifestsAreRefused) {
    auto doc = [](const std::string& name) {
        nlohmann::json m = {{"acKind", "PodManifest"},
                            {"acVersion", "0.8.11"},
                            {"apps",
                             {{{"name", "app"},
                               {"image", {{"name", "example.com/app"}}},
                               {"app", {{"environment", {{{"name", name}, {"value", "x"}}}}}}}}}};
        return m.dump();
    };
    EXPECT_REFUSED_WITH(rkt::parse_pod_manifest_input(doc("A\nB")), "apps[0].app.environment[0]",
                        "not a variable name");
    EXPECT_REFUSED_WITH(rkt::parse_pod_manifest_input(doc("A B")), "not a variable name");
    EXPECT_NO_THROW(rkt::parse_pod_manifest_input(doc("A_B")));
}

TEST(EnvNames, ThePodFileAStage1ReadsIsChecked) {
    rkt::PodManifest pm;
    rkt::RuntimeApp app;
    app.name = "app";
    app.app.environment = {{"A\nB", "x"}};
    pm.apps.push_back(app);
    EXPECT_REFUSED_WITH(rkt::PodManifest::parse(pm.serialize()), "not a variable name");
}

class ImageEnvTest : public ::testing::Test {
protected:
    void SetUp() override {
        root = fs::temp_directory_path() / ("rkt-imageenv-" + std::to_string(::getpid()));
        fs::create_directories(root / "etc");
    }
    void TearDown() override { fs::remove_all(root); }
    rkt::PodAppImage image(std::vector<rkt::EnvVar> env) const {
        rkt::PodAppImage img;
        img.image.id = "sha256-" + std::string(64, 'c');
        img.image.name = "example.com/app";
        img.image.tag = "1.0";
        img.image.config.entrypoint = {"/bin/app"};
        img.image.config.env = std::move(env);
        img.rootfs = root;
        return img;
    }
    fs::path root;
};

TEST_F(ImageEnvTest, AnImageConfigIsRefusedWhenItsPodIsBuilt) {
    auto intent = intent_with({"example.com/app:1.0"});
    for (const std::string& name : kBadNames) {
        EXPECT_REFUSED_WITH(rkt::build_pod_manifest(intent, {image({{name, "x"}})}),
                            "image example.com/app:1.0: environment", "not a variable name");
    }
    EXPECT_NO_THROW(rkt::build_pod_manifest(intent, {image({{"FINE", "x"}})}));
}

TEST_F(ImageEnvTest, InheritedVariablesWithBadNamesAreLeftOut) {
    static char bad[] = "BAD NAME=from the host";
    ASSERT_EQ(::putenv(bad), 0);
    ::setenv("RKT_TEST_GOOD", "yes", 1);
    rkt::PodFlags flags;
    flags.inherit_env = true;
    auto pm = rkt::build_pod_manifest(intent_with({"example.com/app:1.0"}, flags), {image({})});
    EXPECT_EQ(pm.apps[0].app.env("BAD NAME"), nullptr);
    ASSERT_NE(pm.apps[0].app.env("RKT_TEST_GOOD"), nullptr);
    ::unsetenv("BAD NAME");
    ::unsetenv("RKT_TEST_GOOD");
}

TEST(Hostname, BadOnesAreRefusedBeforeAnything) {
    for (const std::string& ok :
         std::vector<std::string>{"web", "my-pod.example.com", "a1", std::string(63, 'a')})
        EXPECT_NO_THROW(rkt::check_hostname_flag(ok)) << ok;
    for (const std::string& bad :
         std::vector<std::string>{"bad host", "-lead", "trail-", "a..b", "x_y", "nl\nx",
                                  std::string(65, 'a'), std::string(64, 'a') + ".b"})
        EXPECT_REFUSED_WITH(rkt::check_hostname_flag(bad), "--hostname", "is not a host name");
    rkt::PodFlags flags;
    flags.hostname = "bad host";
    EXPECT_REFUSED_WITH(rkt::validate_pod_flags(flags, rkt::parse_app_args({"img"}, {})),
                        "--hostname \"bad host\"");
}

}  // namespace
