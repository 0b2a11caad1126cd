#include "stage0/registry/auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

using namespace rkt::registry;

TEST(Challenge, BearerWithQuotedParams) {
    auto cs = parse_challenges(
        R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x/y:pull")");
    ASSERT_EQ(cs.size(), 1u);
    EXPECT_EQ(cs[0].scheme, "bearer");
    EXPECT_EQ(cs[0].param("realm"), "https://auth.example/token");
    EXPECT_EQ(cs[0].param("service"), "registry.example");
    EXPECT_EQ(cs[0].param("scope"), "repository:x/y:pull");
}

TEST(Challenge, ErrorParamAndEscapes) {
    auto cs = parse_challenges(
        R"(Bearer realm="http://127.0.0.1:1/t", error="insufficient_scope", note="a \"q\" b")");
    ASSERT_EQ(cs.size(), 1u);
    EXPECT_EQ(cs[0].param("error"), "insufficient_scope");
    EXPECT_EQ(cs[0].param("note"), "a \"q\" b");
}

TEST(Challenge, BasicAndSeveralChallenges) {
    auto cs =
        parse_challenges(R"(Basic realm="Registry Realm", Bearer realm="https://a/t",service=s)");
    ASSERT_EQ(cs.size(), 2u);
    EXPECT_EQ(cs[0].scheme, "basic");
    EXPECT_EQ(cs[0].param("realm"), "Registry Realm");
    EXPECT_EQ(cs[1].scheme, "bearer");
    EXPECT_EQ(cs[1].param("service"), "s");
}

TEST(Challenge, SchemeCaseAndParamCase) {
    auto cs = parse_challenges(R"(BEARER Realm="x")");
    ASSERT_EQ(cs.size(), 1u);
    EXPECT_EQ(cs[0].scheme, "bearer");
    EXPECT_EQ(cs[0].param("realm"), "x");
}

TEST(Challenge, Malformed) {
    EXPECT_THROW(parse_challenges(R"(Bearer realm="unterminated)"), rkt::Error);
    EXPECT_THROW(parse_challenges(R"(Bearer realm="a" service="b")"), rkt::Error);
    EXPECT_THROW(parse_challenges(std::string(9000, 'a')), rkt::Error);
}

TEST(BasicAuth, Encodes) {
    EXPECT_EQ(basic_authorization({"user", "pass word"}), "Basic dXNlcjpwYXNzIHdvcmQ=");
}

TEST(TokenResponse, TokenOrAccessToken) {
    EXPECT_EQ(parse_token_response(R"({"token":"abc","expires_in":60})"), "abc");
    EXPECT_EQ(parse_token_response(R"({"access_token":"xyz"})"), "xyz");
    EXPECT_THROW(parse_token_response(R"({"expires_in":60})"), rkt::Error);
    EXPECT_THROW(parse_token_response("not json"), rkt::Error);
    EXPECT_THROW(parse_token_response(R"({"token":"a\nb"})"), rkt::Error);
}

TEST(CredentialStore, ReadsDockerAuthAndLaterDirsWin) {
    namespace fs = std::filesystem;
    fs::path root = fs::temp_directory_path() / ("rkt-auth-test-" + std::to_string(::getpid()));
    fs::create_directories(root / "sys/auth.d");
    fs::create_directories(root / "local/auth.d");
    std::ofstream(root / "sys/auth.d/a.json")
        << R"({"rktKind":"dockerAuth","rktVersion":"v1","registries":["r1:5000","r2"],"credentials":{"user":"s","password":"sp"}})";
    std::ofstream(root / "local/auth.d/b.json")
        << R"({"rktKind":"dockerAuth","rktVersion":"v1","registries":["r2"],"credentials":{"user":"l","password":"lp"}})";
    std::ofstream(root / "local/auth.d/other.json") << R"({"rktKind":"paths","rktVersion":"v1"})";
    auto store = CredentialStore::load({root / "sys", root / "local"});
    ASSERT_TRUE(store.find("r1:5000"));
    EXPECT_EQ(store.find("r1:5000")->user, "s");
    EXPECT_EQ(store.find("r2")->user, "l");
    EXPECT_EQ(store.find("r2")->password, "lp");
    EXPECT_FALSE(store.find("r3"));

    std::ofstream(root / "local/auth.d/c.json")
        << R"({"rktKind":"dockerAuth","rktVersion":"v1","registries":["r4"]})";
    EXPECT_THROW(CredentialStore::load({root / "local"}), rkt::Error);
    fs::remove_all(root);
}
