// Where everything lives under <data-dir>/cas, and the two locking tools the store is built on:
// lock files that may be deleted safely, and staging entries in tmp/ that carry an owner lock so
// that debris of a killed process can be told apart from work in progress.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "common/file_lock.h"

namespace rkt::store {

namespace stdfs = std::filesystem;

struct StoreLayout {
    explicit StoreLayout(stdfs::path cas_root);

    stdfs::path root;
    stdfs::path db_path;
    stdfs::path blobs_dir;  // blobs/sha256
    stdfs::path tree_dir;
    stdfs::path erofs_dir;
    stdfs::path tmp_dir;
    stdfs::path locks_dir;

    // All of these take a validated "sha256:<hex>" digest or "sha256-<hex>" image id.
    stdfs::path blob_path(const std::string& digest) const;
    stdfs::path tree_path(const std::string& id) const;
    stdfs::path rootfs_path(const std::string& id) const { return tree_path(id) / "rootfs"; }
    stdfs::path rendered_marker(const std::string& id) const { return tree_path(id) / ".rendered"; }
    stdfs::path erofs_path(const std::string& id) const;
    // erofs/<id>.verity: the dm-verity parameters of the hash tree appended to erofs/<id>.img.
    stdfs::path verity_path(const std::string& id) const;
    // tree/<id>/.digest: tree_digest() of the rendered rootfs, one line.
    stdfs::path tree_digest_path(const std::string& id) const { return tree_path(id) / ".digest"; }
    stdfs::path image_lock_path(const std::string& id) const;
    // Shared while an operation relies on blobs no image references yet (imports, fetches);
    // exclusive while unreferenced blobs are deleted.
    stdfs::path blobs_lock_path() const { return locks_dir / "blobs.lock"; }
    // Serialises opening the index (see StoreImpl).
    stdfs::path open_lock_path() const { return locks_dir / "open.lock"; }
    // The owner lock of tmp/<name>.
    stdfs::path tmp_owner_lock(const std::string& name) const;

    void create_dirs() const;
};

// Takes an exclusive flock on a lock file that other processes may unlink (only while holding
// it). After locking, the path is checked to still name the locked inode; otherwise the lock
// was taken on a deleted file and we start over. Returns an invalid lock when `wait` is false
// and someone else holds it.
FileLock lock_deletable(const stdfs::path& path, bool wait);
// Unlinks a lock file; call only while holding it.
void unlink_lock(const stdfs::path& path);

// A staging directory or file in tmp/, named <kind>-<random>, owned through an exclusive lock
// held from before it exists until after it is gone. The destructor removes what is left.
class TmpEntry {
public:
    static TmpEntry make_dir(const StoreLayout& layout, const std::string& kind);
    // A reserved name for a file the caller creates (e.g. mkfs.erofs output).
    static TmpEntry reserve_file(const StoreLayout& layout, const std::string& kind,
                                 const std::string& suffix = "");
    TmpEntry() = default;
    TmpEntry(TmpEntry&& other) noexcept { *this = std::move(other); }
    TmpEntry& operator=(TmpEntry&&) noexcept;
    ~TmpEntry();

    const stdfs::path& path() const { return path_; }

private:
    void cleanup() noexcept;
    stdfs::path path_;
    stdfs::path lock_path_;
    FileLock lock_;
};

// Removes tmp/ debris: entries whose owner lock is free (their owner died), except partial blob
// downloads younger than `keep_partials_for`, which a later fetch resumes. Best effort.
void clean_tmp(const StoreLayout& layout, std::chrono::seconds keep_partials_for);

// The name of a resumable partial blob in tmp/.
std::string partial_blob_name(const std::string& digest);

}  // namespace rkt::store
