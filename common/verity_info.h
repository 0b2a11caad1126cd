// The dm-verity parameters of an app's erofs image: the store's sidecar
// (cas/erofs/<id>.verity), the pod's copy (appsinfo/<app>/image.verity, which the measured
// launch reads for the root hash) and what the kvm stage1 hands the guest. One format, one
// reader: everything read back is checked, as any file under a data directory may be hostile.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace rkt {

// What rkt writes and accepts: veritysetup's format 1, SHA-256, 4 KiB data and hash blocks,
// a 32-byte salt, no superblock, the hash tree appended to the image right after its data.
inline constexpr uint32_t kVerityBlockSize = 4096;
inline constexpr size_t kVeritySaltBytes = 32;
inline constexpr size_t kVerityDigestBytes = 32;
// 2^40 blocks of 4 KiB (4 PiB): beyond any image, and far from uint64 overflow in offsets.
inline constexpr uint64_t kMaxVerityDataBlocks = 1ull << 40;

struct VerityInfo {
    uint32_t version = 1;
    std::string algorithm = "sha256";
    uint32_t data_block_size = kVerityBlockSize;
    uint32_t hash_block_size = kVerityBlockSize;
    uint64_t data_blocks = 0;
    uint64_t hash_offset = 0;  // bytes from the start of the image file: data_blocks * 4096
    std::string salt;          // 64 lower-case hex digits
    std::string root_hash;     // 64 lower-case hex digits
    bool operator==(const VerityInfo&) const = default;

    uint64_t hash_start_block() const { return hash_offset / hash_block_size; }
    // The image file's size: the data, then the hash tree.
    uint64_t file_size() const;
};

// Hash blocks of the tree over `data_blocks` blocks (SHA-256, 4 KiB): 0 for one block (the
// root hash is then the block's own hash), else the sum of every level's blocks.
uint64_t verity_hash_blocks(uint64_t data_blocks);

// Throws rkt::Error naming the field when `info` is not what rkt writes.
void validate_verity_info(const VerityInfo& info);
// True for exactly `bytes` * 2 lower-case hex digits.
bool is_lower_hex(std::string_view s, size_t bytes);

// Strict: a JSON object with exactly the fields of to_json(), each of its type and range.
VerityInfo parse_verity_info(std::string_view json);
// Reads (at most 4 KiB) and parses a sidecar; errors name the file.
VerityInfo read_verity_info(const std::filesystem::path& path);
std::string to_json(const VerityInfo& info);

}  // namespace rkt
