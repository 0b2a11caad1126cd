#include "common/verity_info.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt {

namespace {

constexpr size_t kMaxSidecarBytes = 4096;
constexpr uint64_t kHashesPerBlock = kVerityBlockSize / kVerityDigestBytes;

const char* const kFields[] = {
    "version",     "algorithm", "data_block_size", "hash_block_size", "data_blocks",
    "hash_offset", "salt",      "root_hash"};

uint64_t unsigned_field(const nlohmann::json& j, const char* name) {
    const nlohmann::json& v = j.at(name);
    if (!v.is_number_unsigned())
        throw Error(std::string("\"") + name + "\" must be a non-negative integer");
    return v.get<uint64_t>();
}

std::string string_field(const nlohmann::json& j, const char* name) {
    const nlohmann::json& v = j.at(name);
    if (!v.is_string()) throw Error(std::string("\"") + name + "\" must be a string");
    return v.get<std::string>();
}

}  // namespace

bool is_lower_hex(std::string_view s, size_t bytes) {
    if (s.size() != bytes * 2) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

uint64_t verity_hash_blocks(uint64_t data_blocks) {
    uint64_t total = 0;
    // Each level holds one digest per block of the level below; the top level is one block.
    for (uint64_t level = data_blocks; level > 1;) {
        level = (level + kHashesPerBlock - 1) / kHashesPerBlock;
        total += level;
    }
    return total;
}

uint64_t VerityInfo::file_size() const {
    return hash_offset + verity_hash_blocks(data_blocks) * hash_block_size;
}

void validate_verity_info(const VerityInfo& info) {
    if (info.version != 1)
        throw Error("\"version\" is " + std::to_string(info.version) + ", expected 1");
    if (info.algorithm != "sha256")
        throw Error("\"algorithm\" is \"" + strings::printable(info.algorithm, 40) +
                    "\", expected \"sha256\"");
    if (info.data_block_size != kVerityBlockSize || info.hash_block_size != kVerityBlockSize)
        throw Error("\"data_block_size\" and \"hash_block_size\" must be 4096");
    if (info.data_blocks < 1 || info.data_blocks > kMaxVerityDataBlocks)
        throw Error("\"data_blocks\" is " + std::to_string(info.data_blocks) + ", expected 1.." +
                    std::to_string(kMaxVerityDataBlocks));
    if (info.hash_offset != info.data_blocks * kVerityBlockSize)
        throw Error("\"hash_offset\" is " + std::to_string(info.hash_offset) +
                    ", expected data_blocks * 4096 = " +
                    std::to_string(info.data_blocks * kVerityBlockSize));
    if (!is_lower_hex(info.salt, kVeritySaltBytes))
        throw Error("\"salt\" must be 64 lower-case hex digits");
    if (!is_lower_hex(info.root_hash, kVerityDigestBytes))
        throw Error("\"root_hash\" must be 64 lower-case hex digits");
}

VerityInfo parse_verity_info(std::string_view json) {
    if (json.size() > kMaxSidecarBytes) throw Error("dm-verity parameters: more than 4096 bytes");
    nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("dm-verity parameters: not a JSON object");
    return with_context("dm-verity parameters", [&] {
        for (const auto& [key, value] : j.items()) {
            (void)value;
            bool known = false;
            for (const char* f : kFields) known = known || key == f;
            if (!known) throw Error("unknown field \"" + strings::printable(key, 40) + "\"");
        }
        for (const char* f : kFields)
            if (!j.contains(f)) throw Error(std::string("\"") + f + "\" is missing");
        VerityInfo info;
        uint64_t version = unsigned_field(j, "version");
        uint64_t data_block_size = unsigned_field(j, "data_block_size");
        uint64_t hash_block_size = unsigned_field(j, "hash_block_size");
        // Out-of-range values must not wrap into valid ones.
        info.version = version > 0xffff ? 0 : static_cast<uint32_t>(version);
        info.data_block_size =
            data_block_size > 0xffffffff ? 0 : static_cast<uint32_t>(data_block_size);
        info.hash_block_size =
            hash_block_size > 0xffffffff ? 0 : static_cast<uint32_t>(hash_block_size);
        info.algorithm = string_field(j, "algorithm");
        info.data_blocks = unsigned_field(j, "data_blocks");
        info.hash_offset = unsigned_field(j, "hash_offset");
        info.salt = string_field(j, "salt");
        info.root_hash = string_field(j, "root_hash");
        validate_verity_info(info);
        return info;
    });
}

VerityInfo read_verity_info(const std::filesystem::path& path) {
    return with_context(path.string(), [&] {
        return parse_verity_info(fs::read_file_limited(path, kMaxSidecarBytes));
    });
}

std::string to_json(const VerityInfo& info) {
    nlohmann::ordered_json j;
    j["version"] = info.version;
    j["algorithm"] = info.algorithm;
    j["data_block_size"] = info.data_block_size;
    j["hash_block_size"] = info.hash_block_size;
    j["data_blocks"] = info.data_blocks;
    j["hash_offset"] = info.hash_offset;
    j["salt"] = info.salt;
    j["root_hash"] = info.root_hash;
    return j.dump() + "\n";
}

}  // namespace rkt
