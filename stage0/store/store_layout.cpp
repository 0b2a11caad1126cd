#include "stage0/store/store_layout.h"

#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "stage0/store/safe_fs.h"

namespace rkt::store {
namespace {

std::string hex_of(const std::string& digest_or_id) {
    // "sha256:<hex>" and "sha256-<hex>" share the prefix length.
    return digest_or_id.substr(7);
}

std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string out;
    uint64_t v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) out.push_back(hex[v & 0xf]);
    return out;
}

constexpr std::string_view kPartialSuffix = ".partial";

}  // namespace

StoreLayout::StoreLayout(stdfs::path cas_root)
    : root(std::move(cas_root)),
      db_path(root / "db.sqlite"),
      blobs_dir(root / "blobs" / "sha256"),
      tree_dir(root / "tree"),
      erofs_dir(root / "erofs"),
      tmp_dir(root / "tmp"),
      locks_dir(root / "locks") {}

stdfs::path StoreLayout::blob_path(const std::string& digest) const {
    return blobs_dir / hex_of(digest);
}
stdfs::path StoreLayout::tree_path(const std::string& id) const {
    return tree_dir / id;
}
stdfs::path StoreLayout::erofs_path(const std::string& id) const {
    return erofs_dir / (id + ".img");
}
stdfs::path StoreLayout::verity_path(const std::string& id) const {
    return erofs_dir / (id + ".verity");
}
stdfs::path StoreLayout::image_lock_path(const std::string& id) const {
    return locks_dir / ("image-" + hex_of(id) + ".lock");
}
stdfs::path StoreLayout::tmp_owner_lock(const std::string& name) const {
    return locks_dir / ("tmp-" + name + ".lock");
}

void StoreLayout::create_dirs() const {
    fs::make_dirs(root.parent_path());
    // Root only: rendered trees keep the images' set-id files and device nodes, and blobs hold
    // every image's files (docs/architecture.md). As root, stage0/data_dir.h has made these
    // already and checked their owners.
    for (const auto& d :
         {root, blobs_dir.parent_path(), blobs_dir, tree_dir, erofs_dir, tmp_dir, locks_dir})
        if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
            throw system_error("cannot create " + d.string());
}

FileLock lock_deletable(const stdfs::path& path, bool wait) {
    for (;;) {
        FileLock lock = wait ? FileLock::acquire(path, FileLock::Mode::kExclusive)
                             : FileLock::try_acquire(path, FileLock::Mode::kExclusive);
        if (!lock.valid()) return lock;
        struct stat held {
        }, named{};
        if (::fstat(lock.fd(), &held) < 0) throw system_error("cannot stat lock " + path.string());
        if (::stat(path.c_str(), &named) == 0 && named.st_ino == held.st_ino &&
            named.st_dev == held.st_dev)
            return lock;
        // The file was unlinked by its previous holder between our open and our flock.
    }
}

void unlink_lock(const stdfs::path& path) {
    ::unlink(path.c_str());
}

TmpEntry TmpEntry::make_dir(const StoreLayout& layout, const std::string& kind) {
    TmpEntry e = reserve_file(layout, kind);
    if (::mkdir(e.path_.c_str(), 0700) < 0) throw system_error("cannot create " + e.path_.string());
    return e;
}

TmpEntry TmpEntry::reserve_file(const StoreLayout& layout, const std::string& kind,
                                const std::string& suffix) {
    TmpEntry e;
    std::string name = kind + "-" + random_suffix() + suffix;
    e.lock_path_ = layout.tmp_owner_lock(name);
    // The lock exists and is held before the entry does, so a cleaner never sees an unowned
    // entry that is still being set up.
    e.lock_ = lock_deletable(e.lock_path_, true);
    e.path_ = layout.tmp_dir / name;
    return e;
}

TmpEntry& TmpEntry::operator=(TmpEntry&& other) noexcept {
    if (this != &other) {
        cleanup();
        path_ = std::move(other.path_);
        lock_path_ = std::move(other.lock_path_);
        lock_ = std::move(other.lock_);
        other.path_.clear();
    }
    return *this;
}

TmpEntry::~TmpEntry() {
    cleanup();
}

void TmpEntry::cleanup() noexcept {
    if (path_.empty()) return;
    try {
        safe_fs::remove_path(path_);
    } catch (const Error& e) {
        log::debug(std::string("leaving tmp debris for gc: ") + e.what());
    }
    unlink_lock(lock_path_);
    lock_ = FileLock();
    path_.clear();
}

std::string partial_blob_name(const std::string& digest) {
    return "blob-" + hex_of(digest) + std::string(kPartialSuffix);
}

void clean_tmp(const StoreLayout& layout, std::chrono::seconds keep_partials_for) {
    std::error_code ec;
    auto now = stdfs::file_time_type::clock::now();
    for (const auto& entry : stdfs::directory_iterator(layout.tmp_dir, ec)) {
        std::string name = entry.path().filename().string();
        stdfs::path lock_path = layout.tmp_owner_lock(name);
        try {
            FileLock lock = lock_deletable(lock_path, false);
            if (!lock.valid()) continue;  // its owner is alive
            if (name.ends_with(kPartialSuffix)) {
                std::error_code ec2;
                auto mtime = stdfs::last_write_time(entry.path(), ec2);
                if (!ec2 && now - mtime < keep_partials_for) {
                    unlink_lock(lock_path);
                    continue;
                }
            }
            safe_fs::remove_path(entry.path());
            unlink_lock(lock_path);
        } catch (const Error& e) {
            log::debug(std::string("cannot clean ") + entry.path().string() + ": " + e.what());
        }
    }
    // Owner locks whose entry is gone (the owner died between removing it and its lock).
    for (const auto& entry : stdfs::directory_iterator(layout.locks_dir, ec)) {
        std::string name = entry.path().filename().string();
        if (!name.starts_with("tmp-") || !name.ends_with(".lock")) continue;
        std::string tmp_name = name.substr(4, name.size() - 4 - 5);
        if (stdfs::exists(layout.tmp_dir / tmp_name, ec)) continue;
        try {
            FileLock lock = lock_deletable(entry.path(), false);
            if (lock.valid() && !stdfs::exists(layout.tmp_dir / tmp_name, ec))
                unlink_lock(entry.path());
        } catch (const Error&) {
        }
    }
}

}  // namespace rkt::store
