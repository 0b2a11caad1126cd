#include "common/digest.h"

#include <gtest/gtest.h>

TEST(Digest, KnownVector) {
    EXPECT_EQ(rkt::sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rkt::Sha256 h;
    h.update("a");
    h.update("bc");
    EXPECT_EQ(h.hex_digest(), rkt::sha256_hex("abc"));
}

TEST(Digest, ValidatesDigestStrings) {
    EXPECT_TRUE(rkt::is_valid_sha256_digest(rkt::sha256_digest("x")));
    EXPECT_FALSE(rkt::is_valid_sha256_digest("sha256:ABC"));
    EXPECT_FALSE(rkt::is_valid_sha256_digest("sha512:" + std::string(64, 'a')));
}
