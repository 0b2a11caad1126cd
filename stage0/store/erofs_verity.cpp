#include "stage0/store/erofs_verity.h"

#include <nettle/sha2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "common/strings.h"

namespace rkt::store {

namespace {

constexpr size_t kBlock = kVerityBlockSize;
constexpr size_t kDigest = kVerityDigestBytes;
// Data is read in chunks of this many blocks: large reads, bounded memory.
constexpr size_t kChunkBlocks = 256;

using Digest = std::array<uint8_t, kDigest>;

// Format 1 hashes the salt first, then the block.
Digest salted_hash(const VeritySalt& salt, const uint8_t* block) {
    sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, salt.size(), salt.data());
    sha256_update(&ctx, kBlock, block);
    Digest d{};
    sha256_digest(&ctx, d.size(), d.data());
    return d;
}

// A fixed-size lower-case hex field of the sidecar into `out` (sizes checked by is_lower_hex).
bool from_hex(const std::string& hex, uint8_t* out, size_t n) {
    if (!is_lower_hex(hex, n)) return false;
    auto bytes = strings::from_hex(hex);
    if (!bytes || bytes->size() != n) return false;
    std::copy(bytes->begin(), bytes->end(), out);
    return true;
}

void pread_exact(int fd, uint8_t* buf, size_t size, uint64_t offset) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = io::retry_eintr([&] {
            return ::pread(fd, buf + done, size - done, static_cast<off_t>(offset + done));
        });
        if (n < 0) throw system_error("cannot read the image");
        if (n == 0) throw Error("the image ended at byte " + std::to_string(offset + done));
        done += static_cast<size_t>(n);
    }
}

void pwrite_all(int fd, const uint8_t* buf, size_t size, uint64_t offset) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = io::retry_eintr([&] {
            return ::pwrite(fd, buf + done, size - done, static_cast<off_t>(offset + done));
        });
        if (n < 0) throw system_error("cannot write the hash tree");
        done += static_cast<size_t>(n);
    }
}

// The digests of every data block, in order (the lowest level's content).
std::vector<uint8_t> data_digests(int fd, uint64_t data_blocks, const VeritySalt& salt) {
    std::vector<uint8_t> digests(data_blocks * kDigest);
    std::vector<uint8_t> buf(kChunkBlocks * kBlock);
    for (uint64_t b = 0; b < data_blocks;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBlocks, data_blocks - b));
        pread_exact(fd, buf.data(), n * kBlock, b * kBlock);
        for (size_t i = 0; i < n; ++i) {
            Digest d = salted_hash(salt, buf.data() + i * kBlock);
            std::copy(d.begin(), d.end(),
                      digests.begin() + static_cast<ptrdiff_t>((b + i) * kDigest));
        }
        b += n;
    }
    return digests;
}

struct Tree {
    // levels[0] holds the hashes of the data blocks, each level padded to whole blocks; the
    // last level is one block.
    std::vector<std::vector<uint8_t>> levels;
    Digest root{};
};

Tree build_tree(std::vector<uint8_t> digests, const VeritySalt& salt) {
    Tree t;
    if (digests.size() == kDigest) {  // one data block: its hash is the root, no tree
        std::copy(digests.begin(), digests.end(), t.root.begin());
        return t;
    }
    for (;;) {
        size_t blocks = (digests.size() + kBlock - 1) / kBlock;
        digests.resize(blocks * kBlock, 0);
        std::vector<uint8_t> above;
        above.reserve(blocks * kDigest);
        for (size_t i = 0; i < blocks; ++i) {
            Digest d = salted_hash(salt, digests.data() + i * kBlock);
            above.insert(above.end(), d.begin(), d.end());
        }
        t.levels.push_back(std::move(digests));
        if (blocks == 1) {
            std::copy(above.begin(), above.end(), t.root.begin());
            return t;
        }
        digests = std::move(above);
    }
}

uint64_t file_size(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) throw system_error("cannot stat the image");
    if (!S_ISREG(st.st_mode)) throw Error("the image is not a regular file");
    return static_cast<uint64_t>(st.st_size);
}

}  // namespace

VeritySalt random_verity_salt() {
    VeritySalt s{};
    if (::getrandom(s.data(), s.size(), 0) != static_cast<ssize_t>(s.size()))
        throw system_error("cannot make a dm-verity salt (getrandom)");
    return s;
}

VerityInfo append_verity_tree(int fd, const VeritySalt& salt) {
    uint64_t size = file_size(fd);
    uint64_t data_blocks = std::max<uint64_t>(1, (size + kBlock - 1) / kBlock);
    if (data_blocks > kMaxVerityDataBlocks) throw Error("the image is too large for dm-verity");
    if (::ftruncate(fd, static_cast<off_t>(data_blocks * kBlock)) < 0)
        throw system_error("cannot pad the image to whole blocks");
    Tree tree = build_tree(data_digests(fd, data_blocks, salt), salt);

    VerityInfo info;
    info.data_blocks = data_blocks;
    info.hash_offset = data_blocks * kBlock;
    info.salt = strings::to_hex(salt.data(), salt.size());
    info.root_hash = strings::to_hex(tree.root.data(), tree.root.size());
    // The top level comes first on disk, the hashes of the data blocks last (cryptsetup's and
    // the kernel's order).
    uint64_t at = info.hash_offset;
    for (auto level = tree.levels.rbegin(); level != tree.levels.rend(); ++level) {
        pwrite_all(fd, level->data(), level->size(), at);
        at += level->size();
    }
    if (at != info.file_size()) throw Error("internal error: the hash tree has the wrong size");
    return info;
}

bool verity_tree_matches(int fd, const VerityInfo& info) {
    validate_verity_info(info);
    if (file_size(fd) != info.file_size()) return false;
    VeritySalt salt{};
    Digest root{};
    if (!from_hex(info.salt, salt.data(), salt.size()) ||
        !from_hex(info.root_hash, root.data(), root.size()))
        return false;
    std::vector<uint8_t> top(kBlock);
    pread_exact(fd, top.data(), top.size(), info.data_blocks == 1 ? 0 : info.hash_offset);
    return salted_hash(salt, top.data()) == root;
}

std::string verity_root_hash(int fd, const VerityInfo& info) {
    validate_verity_info(info);
    VeritySalt salt{};
    from_hex(info.salt, salt.data(), salt.size());
    if (file_size(fd) < info.hash_offset)
        throw Error("the image is shorter than its dm-verity data (" +
                    std::to_string(info.hash_offset) + " bytes)");
    Tree tree = build_tree(data_digests(fd, info.data_blocks, salt), salt);
    return strings::to_hex(tree.root.data(), tree.root.size());
}

}  // namespace rkt::store
