#include <gtest/gtest.h>

#include "common/error.h"
#include "stage0/registry/http_client.h"
#include "stage0/registry/registry_client.h"

using namespace rkt::registry;

TEST(Url, OriginMakesDefaultPortsExplicit) {
    EXPECT_EQ(url_origin("https://Example.com/v2/"), "https://example.com:443");
    EXPECT_EQ(url_origin("http://127.0.0.1:5000/v2/x"), "http://127.0.0.1:5000");
    EXPECT_NE(url_origin("http://127.0.0.1:5000/"), url_origin("http://127.0.0.1:5001/"));
    EXPECT_NE(url_origin("http://h/"), url_origin("https://h/"));
}

TEST(Url, ResolvesRelativeAndAbsoluteLocations) {
    EXPECT_EQ(resolve_url("http://a:1/v2/x/blobs/sha256:1", "/data/1"), "http://a:1/data/1");
    EXPECT_EQ(resolve_url("http://a:1/v2/x/", "http://b:2/y?z=1"), "http://b:2/y?z=1");
}

TEST(Url, Escape) {
    EXPECT_EQ(url_escape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
}

TEST(Http, RefusesPlainHttpUnlessAllowed) {
    HttpClient http(TransportPolicy{});
    HttpRequest req;
    req.url = "http://127.0.0.1:1/v2/";
    try {
        http.perform(req, 1024);
        FAIL();
    } catch (const rkt::Error& e) {
        EXPECT_NE(std::string(e.what()).find("--insecure-options=http"), std::string::npos);
    }
}

TEST(Http, RefusesOtherSchemes) {
    HttpClient http(TransportPolicy{true, true, 5});
    HttpRequest req;
    req.url = "file:///etc/passwd";
    EXPECT_THROW(http.perform(req, 1024), rkt::Error);
}

TEST(RegistryErrors, OneLineFromErrorBody) {
    EXPECT_EQ(registry_error_text(
                  R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"),
              "MANIFEST_UNKNOWN: manifest unknown");
    EXPECT_EQ(registry_error_text("<html>"), "");
    EXPECT_EQ(one_line("a\nb\x1b[2Jc"), "a b [2Jc");
    EXPECT_EQ(one_line(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
}

TEST(RegistryErrors, FieldsThatAreNotStringsAreLeftOut) {
    EXPECT_EQ(registry_error_text(R"({"errors":[{"code":"DENIED","message":{"why":"no"}}]})"),
              "DENIED");
    EXPECT_EQ(
        registry_error_text(R"({"errors":[{"code":401,"message":"authentication required"}]})"),
        "authentication required");
    EXPECT_EQ(registry_error_text(R"({"errors":[{"code":["x"],"message":null}]})"), "");
}

TEST(HeaderLines, NameLowerCasedValueTrimmed) {
    auto h = parse_header_line("WWW-Authenticate:  Bearer realm=\"x\" \r\n");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->first, "www-authenticate");
    EXPECT_EQ(h->second, "Bearer realm=\"x\"");
    EXPECT_FALSE(parse_header_line("\r\n"));
    EXPECT_EQ(parse_header_line(":")->first, "");
}
