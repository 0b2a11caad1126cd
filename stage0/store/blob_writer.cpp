// Resumable, verified blob writes for fetchers: tmp/blob-<hex>.partial, owned through its lock
// while a writer has it open, renamed into blobs/ only when digest and size match.
//
// A writer never waits for another writer of the same digest: when the partial file is taken,
// it writes a private file instead (not resumable). Waiting could deadlock two fetches that
// open writers for shared blobs in different orders; the price is a duplicate download when
// two processes fetch the same blob at the same moment.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "stage0/store/out_of_space.h"
#include "stage0/store/safe_fs.h"
#include "stage0/store/store_impl.h"

namespace rkt::store {
namespace {

class BlobWriterImpl : public BlobWriter {
public:
    BlobWriterImpl(const StoreLayout& layout, std::string digest, std::optional<uint64_t> size,
                   std::shared_ptr<BlobWrites> writes)
        : layout_(layout),
          digest_(std::move(digest)),
          expected_size_(size),
          writes_(std::move(writes)) {
        struct stat st {};
        if (::stat(layout_.blob_path(digest_).c_str(), &st) == 0) {
            present_ = true;
            return;
        }
        std::string name = partial_blob_name(digest_);
        lock_path_ = layout_.tmp_owner_lock(name);
        lock_ = lock_deletable(lock_path_, false);
        if (!lock_.valid()) {
            private_ = TmpEntry::reserve_file(layout_, "blob", ".download");
            partial_path_ = private_.path();
            fd_ = fs::open_file(partial_path_, O_RDWR | O_CREAT | O_EXCL, 0644);
            return;
        }
        if (::stat(layout_.blob_path(digest_).c_str(), &st) == 0) {  // committed meanwhile
            present_ = true;
            release_lock();
            return;
        }
        partial_path_ = layout_.tmp_dir / name;
        fd_ = fs::open_file(partial_path_, O_RDWR | O_CREAT, 0644);
        if (::fstat(fd_.get(), &st) < 0)
            throw system_error("cannot stat " + partial_path_.string());
        uint64_t have = static_cast<uint64_t>(st.st_size);
        if (expected_size_ && have > *expected_size_) {
            truncate();
            have = 0;
        }
        // The hash state is not saved with the partial file: hash what is there again.
        std::vector<char> buf(1 << 20);
        uint64_t done = 0;
        while (done < have) {
            ssize_t n = io::retry_eintr([&] {
                return ::pread(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(done));
            });
            if (n <= 0) throw system_error("cannot read " + partial_path_.string());
            hash_.update(buf.data(), static_cast<size_t>(n));
            done += static_cast<uint64_t>(n);
        }
        written_ = have;
        if (::lseek(fd_.get(), static_cast<off_t>(written_), SEEK_SET) < 0)
            throw system_error("cannot seek " + partial_path_.string());
    }

    // A partial file is kept for a later fetch to resume, unless a write of this store hit a
    // full file system: then keeping it would keep the disk full.
    ~BlobWriterImpl() override {
        if (fd_ && !committed_ && writes_->out_of_space.load()) discard();
        release_lock();
    }

    uint64_t resume_offset() const override { return present_ ? 0 : written_; }
    bool already_present() const override { return present_; }

    void write(const void* data, size_t size) override {
        if (present_) return;
        if (!fd_) throw Error("blob " + digest_ + ": writer is closed");
        if (expected_size_ && written_ + size > *expected_size_) {
            discard();
            throw Error("blob " + digest_ + ": more data than the " +
                        std::to_string(*expected_size_) + " bytes expected");
        }
        hash_.update(data, size);
        try {
            io::write_all(fd_.get(), std::string_view(static_cast<const char*>(data), size),
                          partial_path_.string());
        } catch (const Error& e) {
            fail_if_out_of_space(e);
            throw;
        }
        written_ += size;
    }

    void commit() override {
        if (present_ || committed_) return;
        if (!fd_) throw Error("blob " + digest_ + ": writer is closed");
        if (expected_size_ && written_ != *expected_size_) {
            discard();
            throw Error("blob " + digest_ + ": got " + std::to_string(written_) +
                        " bytes, expected " + std::to_string(*expected_size_));
        }
        std::string actual = "sha256:" + hash_.hex_digest();
        if (actual != digest_) {
            discard();
            throw Error("blob " + digest_ + ": digest mismatch (content hashes to " + actual + ")");
        }
        if (::fsync(fd_.get()) < 0) {
            Error e = system_error("cannot fsync " + partial_path_.string());
            fail_if_out_of_space(e);
            throw e;
        }
        stdfs::path dst = layout_.blob_path(digest_);
        // NOREPLACE: a blob already in place was verified by whoever put it there.
        if (::renameat2(AT_FDCWD, partial_path_.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) <
            0) {
            if (errno != EEXIST)
                throw system_error("cannot move blob " + digest_ + " into the store");
            ::unlink(partial_path_.c_str());
        }
        fs::fsync_dir(layout_.blobs_dir);
        fd_.reset();
        committed_ = true;
        {
            std::lock_guard lock(writes_->mutex);
            writes_->committed.insert(digest_);
        }
        release_lock();
    }

    void restart() override {
        if (present_) return;
        if (!fd_) throw Error("blob " + digest_ + ": writer is closed");
        truncate();
    }

private:
    // No half blob stays behind a full disk: this writer's file goes, and so do the partial
    // files of the other writers of this store (the rest of the same fetch), when they end.
    void fail_if_out_of_space(const Error& e) {
        if (!is_out_of_space(e.cause_errno())) return;
        writes_->out_of_space.store(true);
        discard();
        throw out_of_space("blob " + digest_, layout_.root);
    }
    void truncate() {
        if (::ftruncate(fd_.get(), 0) < 0 || ::lseek(fd_.get(), 0, SEEK_SET) < 0)
            throw system_error("cannot truncate " + partial_path_.string());
        hash_ = Sha256();
        written_ = 0;
    }
    void discard() {
        ::unlink(partial_path_.c_str());
        fd_.reset();
        release_lock();
    }
    void release_lock() {
        private_ = TmpEntry();
        if (!lock_.valid()) return;
        unlink_lock(lock_path_);
        lock_ = FileLock();
    }

    const StoreLayout& layout_;
    std::string digest_;
    std::optional<uint64_t> expected_size_;
    stdfs::path lock_path_;
    stdfs::path partial_path_;
    FileLock lock_;
    TmpEntry private_;  // when another writer has the partial file
    UniqueFd fd_;
    Sha256 hash_;
    uint64_t written_ = 0;
    bool present_ = false;
    bool committed_ = false;
    std::shared_ptr<BlobWrites> writes_;
};

}  // namespace

std::unique_ptr<BlobWriter> StoreImpl::begin_blob(const std::string& digest,
                                                  std::optional<uint64_t> size) {
    if (!is_valid_sha256_digest(digest)) throw Error("malformed digest \"" + digest + "\"");
    acquire_fetch_lease();
    return explain_out_of_space("blob " + digest, layout_.root, [&] {
        return std::make_unique<BlobWriterImpl>(layout_, digest, size, blob_writes_);
    });
}

}  // namespace rkt::store
