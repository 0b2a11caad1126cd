#include "stage0/app_args.h"

#include <gtest/gtest.h>

#include "common/error.h"

using rkt::AppFlags;
using rkt::parse_app_args;

TEST(AppArgs, ImagesFlagsArgsAndSeparators) {
    AppFlags defaults;
    defaults.user = "1000";
    auto apps = parse_app_args({"/img1", "--exec=/inspect", "--", "--print-msg=hi", "--exit-code=3",
                                "---", "img2", "--name", "second", "--user=0"},
                               defaults);
    ASSERT_EQ(apps.size(), 2u);
    EXPECT_EQ(apps[0].image, "/img1");
    EXPECT_EQ(*apps[0].flags.exec, "/inspect");
    EXPECT_EQ(*apps[0].args, (std::vector<std::string>{"--print-msg=hi", "--exit-code=3"}));
    EXPECT_EQ(*apps[0].flags.user, "1000");  // from the defaults
    EXPECT_EQ(apps[1].image, "img2");
    EXPECT_EQ(*apps[1].flags.name, "second");
    EXPECT_EQ(*apps[1].flags.user, "0");  // its own flag wins
    EXPECT_FALSE(apps[1].args);
}

TEST(AppArgs, TwoImagesWithoutSeparator) {
    auto apps = parse_app_args({"a", "b"}, {});
    ASSERT_EQ(apps.size(), 2u);
    EXPECT_EQ(apps[1].image, "b");
}

TEST(AppArgs, ArgsMayLookLikeFlagsAndSeparatorsEndThem) {
    auto apps = parse_app_args({"a", "--", "--exec=/x", "-v", "---", "b", "--", "y"}, {});
    ASSERT_EQ(apps.size(), 2u);
    EXPECT_EQ(*apps[0].args, (std::vector<std::string>{"--exec=/x", "-v"}));
    EXPECT_EQ(*apps[1].args, (std::vector<std::string>{"y"}));
}

TEST(AppArgs, BadInputIsAnError) {
    EXPECT_THROW(parse_app_args({"--", "x"}, {}), rkt::Error);
    EXPECT_THROW(parse_app_args({"a", "--bogus=1"}, {}), rkt::Error);
    EXPECT_THROW(parse_app_args({"a", "--exec"}, {}), rkt::Error);
    EXPECT_THROW(parse_app_args({"a", "--readonly-rootfs=maybe"}, {}), rkt::Error);
    EXPECT_THROW(parse_app_args({"a", "-x"}, {}), rkt::Error);
}

TEST(AppArgs, RepeatableFlagsAccumulate) {
    AppFlags defaults;
    defaults.environment = {"A=1"};
    auto apps =
        parse_app_args({"a", "--environment=B=2", "--mount", "volume=v,target=/d"}, defaults);
    EXPECT_EQ(apps[0].flags.environment, (std::vector<std::string>{"A=1", "B=2"}));
    EXPECT_EQ(apps[0].flags.mounts.size(), 1u);
}
