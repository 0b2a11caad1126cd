#include "stage1-kvm/initramfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"

namespace rkt::kvm {

namespace {

constexpr size_t kMaxGuestInit = 64u << 20;

void pad4(std::string& out) {
    while (out.size() % 4) out.push_back('\0');
}

void add_entry(std::string& out, unsigned ino, const std::string& name, unsigned mode,
               const std::string& data, unsigned rdev_major = 0, unsigned rdev_minor = 0) {
    // newc: "070701" then 13 fields of 8 hex digits: ino, mode, uid, gid, nlink, mtime,
    // filesize, devmajor, devminor, rdevmajor, rdevminor, namesize (with the NUL), check.
    const unsigned fields[] = {ino,
                               mode,
                               0,
                               0,
                               1,
                               0,
                               static_cast<unsigned>(data.size()),
                               0,
                               0,
                               rdev_major,
                               rdev_minor,
                               static_cast<unsigned>(name.size() + 1),
                               0};
    out += "070701";
    char hex[9];
    for (unsigned f : fields) {
        std::snprintf(hex, sizeof hex, "%08X", f);
        out.append(hex, 8);
    }
    out += name;
    out.push_back('\0');
    pad4(out);
    out += data;
    pad4(out);
}

}  // namespace

std::string make_initramfs(const std::string& guest_init) {
    std::string out;
    add_entry(out, 1, "dev", S_IFDIR | 0755, "");
    add_entry(out, 2, "dev/console", S_IFCHR | 0600, "", 5, 1);
    add_entry(out, 3, "init", S_IFREG | 0755, guest_init);
    add_entry(out, 0, "TRAILER!!!", 0, "");
    return out;
}

namespace {

constexpr const char* kKeyFile = "initramfs.key";

// Which guest-init a cache's initramfs was made from, without reading it: device, inode, size
// and modification time. Hashing the 3 MB binary on every pod start costs more (~15 ms).
std::string stat_key(const stdfs::path& guest_init) {
    struct stat st {};
    if (::stat(guest_init.c_str(), &st) != 0) return "";
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
           std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec);
}

// "<stat key> <file name>" in the cache's key file.
std::optional<stdfs::path> known_initramfs(const stdfs::path& dir, const std::string& key) {
    auto text = fs::read_file_if_exists(dir / kKeyFile);
    if (!text || key.empty()) return std::nullopt;
    auto space = text->find(' ');
    if (space == std::string::npos || text->substr(0, space) != key) return std::nullopt;
    std::string name = text->substr(space + 1);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    if (name.rfind("initramfs-", 0) != 0 || name.find('/') != std::string::npos)
        return std::nullopt;
    std::error_code ec;
    if (!stdfs::is_regular_file(dir / name, ec)) return std::nullopt;
    return dir / name;
}

void remember(const stdfs::path& dir, const std::string& key, const stdfs::path& file) {
    if (key.empty()) return;
    try {
        fs::write_file_atomic(dir / kKeyFile, key + " " + file.filename().string() + "\n", 0644,
                              fs::Durability::kAtomicOnly);
    } catch (const Error&) {
        // Only saves the hash next time.
    }
}

}  // namespace

stdfs::path cached_initramfs(const stdfs::path& guest_init,
                             const std::vector<stdfs::path>& cache_dirs) {
    std::string key = stat_key(guest_init);
    for (const auto& dir : cache_dirs)
        if (auto known = known_initramfs(dir, key)) return *known;
    std::string binary;
    try {
        binary = fs::read_file_limited(guest_init, kMaxGuestInit);
    } catch (const Error&) {
        throw Error("guest-init is not built: " + guest_init.string() +
                    " is missing (cmake --build build --target guest-init)");
    }
    std::string name = "initramfs-" + sha256_hex(binary).substr(0, 24) + ".cpio";
    std::error_code ec;
    for (const auto& dir : cache_dirs) {
        if (stdfs::is_regular_file(dir / name, ec)) {
            remember(dir, key, dir / name);
            return dir / name;
        }
    }
    std::string image = make_initramfs(binary);
    std::string failures;
    for (const auto& dir : cache_dirs) {
        try {
            fs::make_dirs(dir, 0755);
            fs::write_file_atomic(dir / name, image, 0644);
        } catch (const Error& e) {
            failures += std::string(failures.empty() ? "" : "; ") + e.what();
            continue;
        }
        // Older initramfs files of this cache are from older guest-inits.
        for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
            std::string other = entry.path().filename().string();
            if (other != name && other.rfind("initramfs-", 0) == 0 &&
                entry.path().extension() == ".cpio")
                stdfs::remove(entry.path(), ec);
        }
        return dir / name;
    }
    throw Error("cannot cache guest-init's initramfs anywhere: " + failures);
}

}  // namespace rkt::kvm
