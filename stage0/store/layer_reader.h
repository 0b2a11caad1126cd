// Reads a layer: a tar stream, plain or compressed (gzip, zstd, detected by magic), from an fd.
// While reading it hashes the bytes as stored (the layer digest) and the decompressed tar (the
// DiffID), optionally copying the stored bytes to a second fd, so one pass over a blob
// verifies it, copies it into the store and unpacks it.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "stage0/store/oci_image.h"

namespace rkt::store {

struct LayerDigests {
    std::string digest;  // "sha256:<hex>" of the bytes as stored
    uint64_t size = 0;
    std::string diff_id;  // "sha256:<hex>" of the decompressed tar
    uint64_t uncompressed_size = 0;
    oci::Compression compression = oci::Compression::kNone;
};

class LayerReader {
public:
    // `what` names the layer in errors. Reading more than `max_size` stored bytes is an error
    // (a descriptor's size, so an endless or lying source is cut off early), and so is
    // decompressing more than `max_uncompressed` bytes. `tee_fd`, when >= 0, receives a copy
    // of every stored byte.
    LayerReader(int fd, std::string what, std::optional<uint64_t> max_size,
                uint64_t max_uncompressed, int tee_fd = -1);
    ~LayerReader();
    LayerReader(const LayerReader&) = delete;
    LayerReader& operator=(const LayerReader&) = delete;

    // The next tar entry, or nullptr at the end of the archive. Valid until the next call.
    archive_entry* next();
    // The next block of the current entry's data; false at its end. `offset` allows sparse files.
    bool read_block(const void** data, size_t* size, int64_t* offset);
    // Consumes the rest of the input so the digests cover all of it, and returns them.
    LayerDigests finish();

    oci::Compression compression() const { return compression_; }
    const std::string& what() const { return what_; }

private:
    struct ArchiveFree {
        void operator()(archive* a) const { archive_read_free(a); }
    };
    static la_ssize_t read_stored(archive*, void* self, const void** buffer);
    static la_ssize_t read_decompressed(archive*, void* self, const void** buffer);
    la_ssize_t pull_stored(const void** buffer);
    // Hashes the first n bytes of tar_buf_ into the DiffID, within the size limit.
    void account_tar(size_t n);
    [[noreturn]] void fail(archive* a, const std::string& context);

    int fd_;
    int tee_fd_;
    std::string what_;
    std::optional<uint64_t> max_size_;
    uint64_t max_uncompressed_;
    std::vector<char> stored_buf_;
    std::vector<char> tar_buf_;
    Sha256 stored_hash_;
    Sha256 tar_hash_;
    uint64_t stored_size_ = 0;
    uint64_t tar_size_ = 0;
    bool stored_eof_ = false;
    bool tar_eof_ = false;
    oci::Compression compression_ = oci::Compression::kNone;
    std::exception_ptr callback_error_;
    std::unique_ptr<archive, ArchiveFree> outer_;  // filters + "raw": the decompressed stream
    std::unique_ptr<archive, ArchiveFree> inner_;  // tar over the decompressed stream
};

}  // namespace rkt::store
