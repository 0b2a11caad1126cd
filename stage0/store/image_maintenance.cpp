// Removing images, garbage collection and verification.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/verity_info.h"
#include "stage0/store/erofs_verity.h"
#include "stage0/store/safe_fs.h"
#include "stage0/store/store_impl.h"

namespace rkt::store {
namespace {

bool is_image_id(const std::string& s) {
    return s.size() == 7 + 64 && s.starts_with("sha256-") &&
           is_valid_sha256_digest("sha256:" + s.substr(7));
}

std::string normalise_id(const std::string& s) {
    if (s.starts_with("sha256:")) return "sha256-" + s.substr(7);
    return s;
}

}  // namespace

// The whole data of the erofs image hashed again against its sidecar's root hash: what a guest
// would find when it reads every block. A changed image is moved away, so the next pod builds
// it anew instead of failing in its guest.
std::optional<std::string> StoreImpl::check_erofs(const std::string& id) const {
    stdfs::path img = layout_.erofs_path(id);
    struct stat st {};
    if (::lstat(img.c_str(), &st) < 0) return std::nullopt;
    try {
        VerityInfo info = read_verity_info(layout_.verity_path(id));
        UniqueFd fd = fs::open_file(img, O_RDONLY | O_NOFOLLOW);
        if (!verity_tree_matches(fd.get(), info) ||
            verity_root_hash(fd.get(), info) != info.root_hash)
            throw Error("its data or hash tree does not match the root hash " + info.root_hash);
        return std::nullopt;
    } catch (const Error& e) {
        FileLock lock = lock_deletable(layout_.image_lock_path(id), false);
        std::string fate = " (in use: left in place)";
        if (lock.valid()) {
            TmpEntry doomed = TmpEntry::reserve_file(layout_, "delete");
            fate = ::rename(img.c_str(), doomed.path().c_str()) == 0
                       ? " (removed: the next pod that needs it builds it again)"
                       : " (cannot remove it: " + std::string(std::strerror(errno)) + ")";
        }
        return "erofs image " + img.string() + ": " + e.what() + fate;
    }
}

FileLock StoreImpl::lock_image(const std::string& id) const {
    return lock_deletable(layout_.image_lock_path(id), true);
}

// Takes the tree and erofs image out of their places first (one rename each), so that a
// process killed while deleting leaves only tmp/ debris, never half a tree under tree/.
void StoreImpl::remove_locked(const std::string& id) {
    index_.erase(id);
    for (const stdfs::path& p :
         {layout_.tree_path(id), layout_.erofs_path(id), layout_.verity_path(id)}) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) < 0) continue;
        TmpEntry doomed = TmpEntry::reserve_file(layout_, "delete");
        if (::rename(p.c_str(), doomed.path().c_str()) < 0)
            throw system_error("cannot remove " + p.string());
    }
}

void StoreImpl::remove(const std::string& id_or_digest) {
    std::string id = normalise_id(id_or_digest);
    require(id);
    FileLock image_lock = lock_image(id);
    if (!index_.find(id)) return;  // removed by someone else while we waited
    std::set<std::string> candidates;
    for (const auto& b : index_.blobs_of(id)) candidates.insert(b.digest);
    remove_locked(id);
    collect_blobs(candidates);
}

void StoreImpl::collect_blobs(const std::optional<std::set<std::string>>& candidates) {
    // Imports and fetches hold this shared while they rely on blobs nothing references yet.
    FileLock gc_lock = FileLock::try_acquire(layout_.blobs_lock_path(), FileLock::Mode::kExclusive);
    if (!gc_lock.valid()) {
        log::debug("blob gc skipped: an import or fetch is in progress");
        return;
    }
    std::set<std::string> referenced = index_.referenced_blobs();
    auto drop = [&](const std::string& name) {
        if (::unlink((layout_.blobs_dir / name).c_str()) < 0 && errno != ENOENT)
            log::warn("cannot remove blob " + name + ": " + std::strerror(errno));
    };
    if (candidates) {
        for (const auto& d : *candidates)
            if (!referenced.count(d)) drop(d.substr(7));
        return;
    }
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(layout_.blobs_dir, ec)) {
        std::string name = e.path().filename().string();
        if (!referenced.count("sha256:" + name)) drop(name);
    }
}

void StoreImpl::remove_orphans() {
    std::set<std::string> known;
    for (const auto& r : index_.all()) known.insert(r.id);
    auto orphan = [&](const std::string& id) {
        if (!is_image_id(id) || known.count(id)) return false;
        return true;
    };
    auto remove_if_orphan = [&](const std::string& id, const stdfs::path& p) {
        FileLock lock = lock_deletable(layout_.image_lock_path(id), false);
        if (!lock.valid() || index_.find(id)) return;  // being imported right now
        TmpEntry doomed = TmpEntry::reserve_file(layout_, "delete");
        if (::rename(p.c_str(), doomed.path().c_str()) < 0 && errno != ENOENT)
            log::warn("cannot remove " + p.string() + ": " + std::strerror(errno));
    };
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(layout_.tree_dir, ec)) {
        std::string id = e.path().filename().string();
        if (orphan(id)) remove_if_orphan(id, e.path());
    }
    for (const auto& e : stdfs::directory_iterator(layout_.erofs_dir, ec)) {
        std::string name = e.path().filename().string();
        std::string id;
        if (name.ends_with(".img")) id = name.substr(0, name.size() - 4);
        if (name.ends_with(".verity")) id = name.substr(0, name.size() - 7);
        if (id.empty()) continue;
        if (orphan(id)) remove_if_orphan(id, e.path());
    }
    // Lock files of images that are gone.
    for (const auto& e : stdfs::directory_iterator(layout_.locks_dir, ec)) {
        std::string name = e.path().filename().string();
        if (!name.starts_with("image-") || !name.ends_with(".lock")) continue;
        std::string id = "sha256-" + name.substr(6, name.size() - 6 - 5);
        if (!orphan(id)) continue;
        FileLock lock = lock_deletable(e.path(), false);
        if (lock.valid() && !index_.find(id)) unlink_lock(e.path());
    }
}

std::vector<std::string> StoreImpl::gc(std::chrono::milliseconds grace,
                                       const std::set<std::string>& in_use) {
    // Partial downloads no fetch is writing (their owner lock is free) go once they are older
    // than the grace period, as unused images do: `--grace-period=0s` frees a full disk.
    clean_tmp(layout_, std::chrono::duration_cast<std::chrono::seconds>(grace));
    std::set<std::string> keep;
    for (const auto& id : in_use) keep.insert(normalise_id(id));
    int64_t cutoff = now_ms() - grace.count();
    std::vector<std::string> removed;
    for (const auto& r : index_.all()) {
        if (keep.count(r.id) || r.last_used_ms > cutoff) continue;
        // An image being rendered or imported right now is in use by definition.
        FileLock lock = lock_deletable(layout_.image_lock_path(r.id), false);
        if (!lock.valid()) continue;
        auto fresh = index_.find(r.id);
        if (!fresh || fresh->last_used_ms > cutoff) continue;
        remove_locked(r.id);
        removed.push_back(r.id);
    }
    remove_orphans();
    collect_blobs(std::nullopt);
    return removed;
}

std::vector<std::string> StoreImpl::verify() const {
    std::vector<std::string> problems;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(layout_.blobs_dir, ec)) {
        std::string name = e.path().filename().string();
        std::string digest = "sha256:" + name;
        if (!is_valid_sha256_digest(digest)) {
            problems.push_back("unexpected file " + e.path().string());
            continue;
        }
        try {
            std::string actual = sha256_file_digest(e.path());
            if (actual != digest)
                problems.push_back("blob " + digest + " is corrupt: its content hashes to " +
                                   actual);
        } catch (const Error& err) {
            problems.push_back("blob " + digest + ": " + err.what());
        }
    }
    if (ec) problems.push_back("cannot list " + layout_.blobs_dir.string() + ": " + ec.message());

    for (const auto& r : index_.all()) {
        std::string who = "image " + r.id.substr(0, 19);
        for (const auto& b : index_.blobs_of(r.id)) {
            struct stat st {};
            std::string blob = b.role + " " + b.digest;
            if (::stat(layout_.blob_path(b.digest).c_str(), &st) < 0) {
                problems.push_back(who + ": " + blob + " is missing");
            } else if (static_cast<uint64_t>(st.st_size) != b.size) {
                problems.push_back(who + ": " + blob + " has " + std::to_string(st.st_size) +
                                   " bytes, expected " + std::to_string(b.size));
            }
        }
        struct stat st {};
        if (::lstat(layout_.tree_path(r.id).c_str(), &st) == 0 &&
            ::lstat(layout_.rendered_marker(r.id).c_str(), &st) < 0)
            problems.push_back(who + ": " + layout_.tree_path(r.id).string() +
                               " is incomplete (no .rendered marker)");
        if (auto p = check_erofs(r.id)) problems.push_back(who + ": " + *p);
    }
    return problems;
}

}  // namespace rkt::store
