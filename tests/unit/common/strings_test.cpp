#include "common/strings.h"

#include <gtest/gtest.h>

using namespace rkt::strings;
using namespace std::chrono_literals;

TEST(Strings, SplitKeepsEmptyFields) {
    EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_EQ(split("", ','), (std::vector<std::string>{""}));
}

TEST(Strings, HexHasThePrefixAndNoPadding) {
    EXPECT_EQ(hex(0), "0x0");
    EXPECT_EQ(hex(0x3f8), "0x3f8");
    EXPECT_EQ(hex(0xfee00000), "0xfee00000");
    EXPECT_EQ(hex(UINT64_MAX), "0xffffffffffffffff");
}

TEST(Strings, ParsesGoDurations) {
    EXPECT_EQ(parse_duration("30m"), std::chrono::milliseconds(30min));
    EXPECT_EQ(parse_duration("1h30m"), std::chrono::milliseconds(90min));
    EXPECT_EQ(parse_duration("0"), 0ms);
    EXPECT_EQ(parse_duration("100ms"), 100ms);
    EXPECT_FALSE(parse_duration("ten minutes"));
    EXPECT_FALSE(parse_duration("5"));
    EXPECT_EQ(format_duration(30min), "30m0s");
    EXPECT_EQ(format_duration(24h), "24h0m0s");
}

TEST(Strings, ParsesKubernetesQuantities) {
    EXPECT_EQ(parse_memory_quantity("50M"), 50'000'000u);
    EXPECT_EQ(parse_memory_quantity("16Mi"), 16u * 1024 * 1024);
    EXPECT_EQ(parse_memory_quantity("1024"), 1024u);
    EXPECT_FALSE(parse_memory_quantity("lots"));
    EXPECT_FALSE(parse_memory_quantity("5Q"));
    EXPECT_EQ(parse_cpu_quantity("500m"), 500u);
    EXPECT_EQ(parse_cpu_quantity("2"), 2000u);
    EXPECT_FALSE(parse_cpu_quantity("m"));
}

TEST(Strings, ImageRepositoryDropsTagAndDigest) {
    EXPECT_EQ(image_repository("127.0.0.1:5000/x/y:v1"), "127.0.0.1:5000/x/y");
    EXPECT_EQ(image_repository("127.0.0.1:5000/x/y@sha256:abc"), "127.0.0.1:5000/x/y");
    EXPECT_EQ(image_repository("127.0.0.1:5000/x/y:v1@sha256:abc"), "127.0.0.1:5000/x/y");
    EXPECT_EQ(image_repository("127.0.0.1:5000/x/y"), "127.0.0.1:5000/x/y");
    EXPECT_EQ(image_repository("redis:7"), "redis");
}

TEST(Strings, AppNamesFromImageNames) {
    EXPECT_EQ(image_name_to_app_name("registry-1.docker.io/library/redis"), "redis");
    EXPECT_EQ(image_name_to_app_name("coreos.com/rkt-inspect"), "rkt-inspect");
    EXPECT_EQ(image_name_to_app_name("127.0.0.1:5000/x/Test_Img:v1"), "test-img");
    EXPECT_EQ(image_name_to_app_name("/tmp/layout"), "layout");
    EXPECT_TRUE(is_valid_acname("rkt-inspect"));
    EXPECT_FALSE(is_valid_acname("-bad"));
    EXPECT_FALSE(is_valid_acname("Bad"));
}
