// The dm-verity sidecar as hostile input: every field's type and range, unknown and missing
// fields, sizes that do not add up.
#include "common/verity_info.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace rkt {
namespace {

VerityInfo sample() {
    VerityInfo v;
    v.data_blocks = 300;
    v.hash_offset = 300ull * 4096;
    v.salt = std::string(64, 'a');
    v.root_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    return v;
}

nlohmann::json sample_json() {
    return nlohmann::json::parse(to_json(sample()));
}

std::string error_of(const std::string& text) {
    try {
        parse_verity_info(text);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::string error_with(const char* key, const nlohmann::json& value) {
    nlohmann::json j = sample_json();
    j[key] = value;
    return error_of(j.dump());
}

TEST(VerityInfo, RoundTrips) {
    EXPECT_EQ(parse_verity_info(to_json(sample())), sample());
    EXPECT_EQ(sample_json()["hash_offset"], 300 * 4096);
    EXPECT_EQ(sample().hash_start_block(), 300u);
}

TEST(VerityInfo, HashBlocksPerShape) {
    EXPECT_EQ(verity_hash_blocks(1), 0u);
    EXPECT_EQ(verity_hash_blocks(2), 1u);
    EXPECT_EQ(verity_hash_blocks(128), 1u);
    EXPECT_EQ(verity_hash_blocks(129), 3u);
    EXPECT_EQ(verity_hash_blocks(16384), 129u);
    EXPECT_EQ(verity_hash_blocks(16385), 132u);
    EXPECT_EQ(sample().file_size(), 300u * 4096 + (3 + 1) * 4096);  // 3 blocks of hashes, 1 above
}

TEST(VerityInfo, RefusesWhatIsNotAnObject) {
    EXPECT_NE(error_of(""), "");
    EXPECT_NE(error_of("[]"), "");
    EXPECT_NE(error_of("{\"version\": 1"), "");
    EXPECT_NE(error_of(std::string(5000, ' ') + to_json(sample())), "");
}

TEST(VerityInfo, RefusesUnknownAndMissingFields) {
    nlohmann::json j = sample_json();
    j["extra"] = 1;
    EXPECT_NE(error_of(j.dump()).find("unknown field \"extra\""), std::string::npos);
    for (const char* key : {"version", "algorithm", "data_block_size", "hash_block_size",
                            "data_blocks", "hash_offset", "salt", "root_hash"}) {
        nlohmann::json k = sample_json();
        k.erase(key);
        EXPECT_NE(error_of(k.dump()).find(std::string("\"") + key + "\" is missing"),
                  std::string::npos)
            << key;
    }
}

TEST(VerityInfo, RefusesWrongTypes) {
    EXPECT_NE(error_with("version", "1"), "");
    EXPECT_NE(error_with("version", 1.0), "");
    EXPECT_NE(error_with("data_blocks", -1), "");
    EXPECT_NE(error_with("data_blocks", true), "");
    EXPECT_NE(error_with("salt", 5), "");
    EXPECT_NE(error_with("root_hash", nullptr), "");
}

TEST(VerityInfo, RefusesValuesRktDoesNotWrite) {
    EXPECT_NE(error_with("version", 0), "");
    EXPECT_NE(error_with("version", 65537), "");  // must not wrap to 1
    EXPECT_NE(error_with("algorithm", "sha1"), "");
    EXPECT_NE(error_with("data_block_size", 512), "");
    EXPECT_NE(error_with("hash_block_size", 4096ull + (1ull << 32)), "");  // must not wrap
    EXPECT_NE(error_with("data_blocks", 0), "");
    EXPECT_NE(error_with("salt", std::string(62, 'a')), "");
    EXPECT_NE(error_with("salt", std::string(64, 'A')), "");
    EXPECT_NE(error_with("salt", std::string(63, 'a') + "g"), "");
    EXPECT_NE(error_with("root_hash", std::string(66, '0')), "");
    EXPECT_NE(error_with("root_hash", ""), "");
}

TEST(VerityInfo, RefusesSizesThatDoNotAddUp) {
    EXPECT_NE(error_with("hash_offset", 299 * 4096), "");  // the tree would overlap the data
    EXPECT_NE(error_with("hash_offset", 300 * 4096 + 1), "");
    nlohmann::json j = sample_json();
    j["data_blocks"] = (1ull << 40) + 1;
    j["hash_offset"] = ((1ull << 40) + 1) * 4096;
    EXPECT_NE(error_of(j.dump()).find("\"data_blocks\""), std::string::npos);
    j["data_blocks"] = 1ull << 62;  // data_blocks * 4096 overflows
    j["hash_offset"] = 0;
    EXPECT_NE(error_of(j.dump()), "");
}

TEST(VerityInfo, HexCheck) {
    EXPECT_TRUE(is_lower_hex("00ff", 2));
    EXPECT_FALSE(is_lower_hex("00ff", 3));
    EXPECT_FALSE(is_lower_hex("00fF", 2));
    EXPECT_FALSE(is_lower_hex("0x0f", 2));
}

}  // namespace
}  // namespace rkt
