#include "stage0/tpm/file_digest_cache.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <ctime>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"

namespace rkt::tpm {

namespace {

constexpr size_t kMaxCacheBytes = 1 << 20;
constexpr size_t kMaxEntries = 256;

int64_t nanoseconds(const struct timespec& t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

nlohmann::json key_of(const struct stat& st) {
    return {{"dev", static_cast<uint64_t>(st.st_dev)},
            {"ino", static_cast<uint64_t>(st.st_ino)},
            {"size", static_cast<int64_t>(st.st_size)},
            {"mtime_ns", nanoseconds(st.st_mtim)},
            {"ctime_ns", nanoseconds(st.st_ctim)}};
}

}  // namespace

FileDigestCache::FileDigestCache(std::filesystem::path file) : file_(std::move(file)) {
    try {
        auto text = fs::read_file_if_exists(file_);
        if (!text || text->size() > kMaxCacheBytes) return;
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_object() && j.size() <= kMaxEntries) entries_ = std::move(j);
    } catch (const Error&) {
        // A cache that cannot be read is rebuilt: it only saves time.
    }
}

std::string FileDigestCache::digest(const std::filesystem::path& path) {
    // The digest is of the file opened here, and the key is that file's: no window between
    // looking at one file and hashing another.
    UniqueFd fd = fs::open_file(path, O_RDONLY | O_CLOEXEC);
    struct stat st {};
    check_sys(::fstat(fd.get(), &st), "stat " + path.string());
    nlohmann::json key = key_of(st);
    auto it = entries_.find(path.string());
    if (it != entries_.end() && it->is_object() && it->value("key", nlohmann::json()) == key &&
        it->contains("digest") && (*it)["digest"].is_string() &&
        is_valid_sha256_digest((*it)["digest"].get<std::string>()))
        return (*it)["digest"].get<std::string>();
    std::string d = sha256_fd_digest(fd.get(), path.string());
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (nanoseconds(now) - nanoseconds(st.st_ctim) > 1000000000 && entries_.size() < kMaxEntries) {
        entries_[path.string()] = {{"key", key}, {"digest", d}};
        changed_ = true;
    }
    return d;
}

void FileDigestCache::save() {
    if (!changed_) return;
    fs::write_file_atomic(file_, entries_.dump(), 0600, fs::Durability::kAtomicOnly);
    changed_ = false;
}

}  // namespace rkt::tpm
