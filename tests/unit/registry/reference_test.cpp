#include "stage0/registry/reference.h"

#include <gtest/gtest.h>

#include "common/error.h"

using rkt::registry::parse_docker_url;
using rkt::registry::parse_reference;

namespace {
const std::string kDigest =
    "sha256:aa5a8e1a61a1b3e6f6a3f2bcbd0a2ee2e3a5a0c2b0b3b5b6b7b8b9babbbcbdbe";
}

TEST(Reference, HostPortNameTag) {
    auto r = parse_docker_url("docker://127.0.0.1:5000/x/test:v1");
    EXPECT_EQ(r.registry, "127.0.0.1:5000");
    EXPECT_EQ(r.repository, "x/test");
    EXPECT_EQ(r.tag, "v1");
    EXPECT_EQ(r.digest, "");
    EXPECT_EQ(r.name(), "127.0.0.1:5000/x/test");
    EXPECT_EQ(r.to_string(), "127.0.0.1:5000/x/test:v1");
    EXPECT_EQ(r.api_host(), "127.0.0.1:5000");
}

TEST(Reference, DefaultsToLatest) {
    auto r = parse_reference("registry.example.com/app");
    EXPECT_EQ(r.tag, "latest");
    EXPECT_EQ(r.reference(), "latest");
}

TEST(Reference, ByDigest) {
    auto r = parse_reference("localhost:5000/a/b@" + kDigest);
    EXPECT_EQ(r.registry, "localhost:5000");
    EXPECT_EQ(r.digest, kDigest);
    EXPECT_EQ(r.tag, "");
    EXPECT_EQ(r.reference(), kDigest);
    EXPECT_EQ(r.to_string(), "localhost:5000/a/b@" + kDigest);
}

TEST(Reference, TagAndDigestKeepsTheDigest) {
    auto r = parse_reference("localhost/a:v2@" + kDigest);
    EXPECT_EQ(r.digest, kDigest);
    EXPECT_EQ(r.tag, "");
}

TEST(Reference, DockerHubNames) {
    auto r = parse_reference("redis");
    EXPECT_EQ(r.registry, "docker.io");
    EXPECT_EQ(r.repository, "library/redis");
    EXPECT_EQ(r.api_host(), "registry-1.docker.io");
    auto u = parse_reference("someone/tool:1.0");
    EXPECT_EQ(u.registry, "docker.io");
    EXPECT_EQ(u.repository, "someone/tool");
    EXPECT_EQ(u.tag, "1.0");
}

TEST(Reference, PortWithoutTagIsNotATag) {
    auto r = parse_reference("myhost:5000/app");
    EXPECT_EQ(r.registry, "myhost:5000");
    EXPECT_EQ(r.repository, "app");
    EXPECT_EQ(r.tag, "latest");
}

TEST(Reference, SeparatorsInComponents) {
    EXPECT_NO_THROW(parse_reference("h.example/a.b/c_d/e__f/g---h:t_1.2-3"));
}

TEST(Reference, RejectsBadInput) {
    for (const char* bad :
         {"", "h.example/UPPER", "h.example/a//b", "h.example/a/", "h.example/-a", "h.example/a_-b",
          "h.example/a:", "h.example/a:-tag", "h.example/a@sha256:abc",
          "h.example/a@md5:", "h.example:99999/a", "h.ex ample/a", "h.example/a b",
          "h.example/../etc", "h.example/a?x=1", "h.example/a#frag"}) {
        EXPECT_THROW(parse_reference(bad), rkt::Error) << bad;
    }
    std::string long_tag(129, 'a');
    EXPECT_THROW(parse_reference("h.example/a:" + long_tag), rkt::Error);
    EXPECT_THROW(parse_docker_url("http://h.example/a"), rkt::Error);
}

TEST(Reference, ErrorSaysWhatIsWrong) {
    try {
        parse_reference("h.example/a@sha512:00");
        FAIL();
    } catch (const rkt::Error& e) {
        EXPECT_NE(std::string(e.what()).find("only sha256"), std::string::npos) << e.what();
    }
}

// An empty first component ("docker:///x", "/x") is neither a host nor a repository component;
// it once reached front() of an empty string_view (caught with _GLIBCXX_ASSERTIONS).
TEST(Reference, EmptyFirstComponent) {
    for (const char* bad : {"docker:///x", "docker:///", "docker:////x/y"})
        EXPECT_THROW(parse_docker_url(bad), rkt::Error) << bad;
    EXPECT_THROW(parse_reference("/x:v1"), rkt::Error);
}
