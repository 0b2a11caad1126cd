#include "stage0/store/layer_reader.h"

#include <unistd.h>

#include "common/error.h"
#include "common/io.h"
#include "stage0/store/safe_fs.h"

namespace rkt::store {
namespace {
constexpr size_t kBufferSize = 1 << 20;
}  // namespace

LayerReader::LayerReader(int fd, std::string what, std::optional<uint64_t> max_size,
                         uint64_t max_uncompressed, int tee_fd)
    : fd_(fd),
      tee_fd_(tee_fd),
      what_(std::move(what)),
      max_size_(max_size),
      max_uncompressed_(max_uncompressed),
      stored_buf_(kBufferSize),
      tar_buf_(kBufferSize) {
    outer_.reset(archive_read_new());
    inner_.reset(archive_read_new());
    if (!outer_ || !inner_) throw Error(what_ + ": out of memory");
    // Only the compressions that image specs allow; anything else fails as "not a tar".
    archive_read_support_filter_gzip(outer_.get());
    archive_read_support_filter_zstd(outer_.get());
    archive_read_support_format_raw(outer_.get());
    if (archive_read_open(outer_.get(), this, nullptr, &LayerReader::read_stored, nullptr) !=
        ARCHIVE_OK)
        fail(outer_.get(), "cannot read the layer");
    archive_entry* raw_entry = nullptr;
    if (archive_read_next_header(outer_.get(), &raw_entry) != ARCHIVE_OK)
        fail(outer_.get(), "cannot read the layer");
    switch (archive_filter_code(outer_.get(), 0)) {
        case ARCHIVE_FILTER_GZIP:
            compression_ = oci::Compression::kGzip;
            break;
        case ARCHIVE_FILTER_ZSTD:
            compression_ = oci::Compression::kZstd;
            break;
        default:
            compression_ = oci::Compression::kNone;
            break;
    }
    archive_read_support_format_tar(inner_.get());
    if (archive_read_open(inner_.get(), this, nullptr, &LayerReader::read_decompressed, nullptr) !=
        ARCHIVE_OK)
        fail(inner_.get(), "not a tar archive");
}

LayerReader::~LayerReader() = default;

void LayerReader::fail(archive* a, const std::string& context) {
    if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
    const char* msg = a ? archive_error_string(a) : nullptr;
    throw Error(what_ + ": " + context + (msg ? std::string(": ") + msg : std::string()));
}

la_ssize_t LayerReader::read_stored(archive* a, void* self, const void** buffer) {
    auto* r = static_cast<LayerReader*>(self);
    try {
        return r->pull_stored(buffer);
    } catch (...) {
        // Exceptions must not unwind through libarchive's C frames.
        r->callback_error_ = std::current_exception();
        archive_set_error(a, EIO, "read failed");
        return -1;
    }
}

la_ssize_t LayerReader::pull_stored(const void** buffer) {
    if (stored_eof_) return 0;
    ssize_t n;
    n = io::read_some(fd_, stored_buf_.data(), stored_buf_.size());
    if (n < 0) throw system_error(what_ + ": read failed");
    if (n == 0) {
        stored_eof_ = true;
        return 0;
    }
    stored_size_ += static_cast<uint64_t>(n);
    if (max_size_ && stored_size_ > *max_size_)
        throw Error(what_ + ": larger than the " + std::to_string(*max_size_) +
                    " bytes its descriptor declares");
    stored_hash_.update(stored_buf_.data(), static_cast<size_t>(n));
    if (tee_fd_ >= 0)
        io::write_all(tee_fd_, std::string_view(stored_buf_.data(), static_cast<size_t>(n)), what_);
    *buffer = stored_buf_.data();
    return n;
}

la_ssize_t LayerReader::read_decompressed(archive* a, void* self, const void** buffer) {
    auto* r = static_cast<LayerReader*>(self);
    la_ssize_t n = archive_read_data(r->outer_.get(), r->tar_buf_.data(), r->tar_buf_.size());
    if (n < 0) {
        const char* msg = archive_error_string(r->outer_.get());
        archive_set_error(a, EIO, "%s", msg ? msg : "decompression failed");
        return -1;
    }
    try {
        r->account_tar(static_cast<size_t>(n));
    } catch (...) {
        r->callback_error_ = std::current_exception();
        archive_set_error(a, EIO, "layer too large");
        return -1;
    }
    *buffer = r->tar_buf_.data();
    return n;
}

void LayerReader::account_tar(size_t n) {
    tar_size_ += n;
    if (tar_size_ > max_uncompressed_)
        throw Error(what_ + ": decompresses to more than the limit of " +
                    std::to_string(max_uncompressed_) + " bytes");
    tar_hash_.update(tar_buf_.data(), n);
}

archive_entry* LayerReader::next() {
    if (tar_eof_) return nullptr;
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(inner_.get(), &entry);
    if (rc == ARCHIVE_EOF) {
        tar_eof_ = true;
        return nullptr;
    }
    // ARCHIVE_WARN covers names that do not convert to the locale; the raw bytes are kept.
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) fail(inner_.get(), "malformed tar");
    return entry;
}

bool LayerReader::read_block(const void** data, size_t* size, int64_t* offset) {
    la_int64_t off = 0;
    int rc = archive_read_data_block(inner_.get(), data, size, &off);
    if (rc == ARCHIVE_EOF) return false;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) fail(inner_.get(), "malformed tar");
    *offset = off;
    return true;
}

LayerDigests LayerReader::finish() {
    // The tar reader stops at the end-of-archive marker; the DiffID covers the padding after
    // it, and the digest covers any bytes after the compressed stream.
    while (next() != nullptr) {
    }
    for (;;) {
        la_ssize_t n = archive_read_data(outer_.get(), tar_buf_.data(), tar_buf_.size());
        if (n < 0) fail(outer_.get(), "cannot decompress the layer");
        if (n == 0) break;
        account_tar(static_cast<size_t>(n));
    }
    const void* ignored = nullptr;
    while (pull_stored(&ignored) > 0) {
    }
    LayerDigests out;
    out.digest = "sha256:" + stored_hash_.hex_digest();
    out.size = stored_size_;
    out.diff_id = "sha256:" + tar_hash_.hex_digest();
    out.uncompressed_size = tar_size_;
    out.compression = compression_;
    return out;
}

}  // namespace rkt::store
