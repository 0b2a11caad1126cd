#include "stage0/store/tree_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "common/error.h"
#include "common/io.h"
#include "common/log.h"
#include "stage0/store/safe_fs.h"

namespace rkt::store {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
constexpr std::string_view kOverlayOpaqueXattr = "trusted.overlay.opaque";
// The paths a layer writes are remembered for its whiteouts; this bounds their memory (real
// layers stay far below: 100k files of 100 bytes are 10 MiB).
constexpr uint64_t kMaxTouchedPathBytes = 256ull << 20;

std::string join_path(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
}

// Entry names are hostile bytes; keep error messages on one readable line.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200)) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
    if (s.size() > 200) out += "...";
    return out;
}

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

std::vector<std::string> list_dir(int dir_fd) {
    int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot list a directory");
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd));
    if (!dir) {
        ::close(fd);
        throw system_error("cannot list a directory");
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir.get())) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    return names;
}

// Removes whatever occupies `name` unless it is a directory and a directory is wanted.
// Returns true when an existing directory was kept.
bool clear_slot(int parent_fd, const std::string& name, bool keep_directory) {
    struct stat st {};
    if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return false;
        throw system_error("cannot stat");
    }
    if (keep_directory && S_ISDIR(st.st_mode)) return true;
    safe_fs::remove_at(parent_fd, name);
    return false;
}

struct timespec entry_mtime(archive_entry* entry) {
    struct timespec ts {};
    ts.tv_sec = archive_entry_mtime(entry);
    ts.tv_nsec = archive_entry_mtime_nsec(entry);
    if (ts.tv_nsec < 0 || ts.tv_nsec >= 1'000'000'000) ts.tv_nsec = 0;
    return ts;
}

}  // namespace

TreeWriter::TreeWriter(int root_fd, TreeWriterOptions options)
    : root_fd_(root_fd), options_(options) {}

void TreeWriter::apply(LayerReader& reader) {
    touched_.clear();
    touched_bytes_ = 0;
    deferred_dirs_.clear();
    uint64_t count = 0;
    while (archive_entry* entry = reader.next()) {
        if (++count > options_.limits.max_layer_entries)
            throw Error(reader.what() + ": more than " +
                        std::to_string(options_.limits.max_layer_entries) + " entries");
        const char* raw = archive_entry_pathname(entry);
        if (!raw) raw = archive_entry_pathname_utf8(entry);
        if (!raw) throw Error(reader.what() + ": an entry has no path");
        try {
            std::string path = safe_fs::normalize_entry_path(raw, options_.limits.max_path_length);
            apply_entry(reader, entry, path);
        } catch (const Error& e) {
            throw e.with_context(reader.what() + ": entry \"" + printable(raw) + "\"");
        }
    }
    finish_directories();
}

void TreeWriter::apply_entry(LayerReader& reader, archive_entry* entry, const std::string& path) {
    if (path.empty()) return;  // the root itself ("./"): its metadata is ours to choose
    auto [parent, name] = safe_fs::split_parent(path);
    mode_t type = archive_entry_filetype(entry);

    if (options_.image_layer) {
        if (name.starts_with(kWhiteoutPrefix)) {
            if (name == kOpaqueMarker) {
                make_opaque(parent);
                return;
            }
            if (name.starts_with(kWhiteoutMetaPrefix)) return;  // aufs bookkeeping, not content
            std::string target = name.substr(kWhiteoutPrefix.size());
            if (target.empty() || target == "." || target == "..")
                throw Error("invalid whiteout name \"" + name + "\"");
            remove_lower(join_path(parent, target));
            return;
        }
        if (type == AE_IFCHR && archive_entry_rdevmajor(entry) == 0 &&
            archive_entry_rdevminor(entry) == 0) {
            remove_lower(path);
            return;
        }
    }

    int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    if (size < 0) throw Error("negative size");
    if (static_cast<uint64_t>(size) > options_.limits.max_entry_bytes)
        throw Error(std::to_string(size) + " bytes is larger than the limit of " +
                    std::to_string(options_.limits.max_entry_bytes) + " bytes for one file");

    if (const char* link = archive_entry_hardlink(entry)) {
        std::string target = safe_fs::normalize_entry_path(link, options_.limits.max_path_length);
        UniqueFd parent_fd = safe_fs::ensure_dir_beneath(root_fd_, parent);
        if (target != path) make_hardlink(target, parent_fd.get(), name);
        touch(path);
        return;
    }

    UniqueFd parent_fd = safe_fs::ensure_dir_beneath(root_fd_, parent);
    int pfd = parent_fd.get();
    switch (type) {
        case AE_IFREG:
            write_regular(reader, entry, pfd, name);
            break;
        case AE_IFDIR:
            touch(path);
            make_directory(entry, pfd, name, path);
            break;
        case AE_IFLNK: {
            const char* target = archive_entry_symlink(entry);
            if (!target) target = archive_entry_symlink_utf8(entry);
            if (!target || !*target) throw Error("symlink without a target");
            if (std::strlen(target) > options_.limits.max_path_length)
                throw Error("symlink target longer than the path limit");
            clear_slot(pfd, name, false);
            // The target is stored, never followed by us: it is data for the container.
            if (::symlinkat(target, pfd, name.c_str()) < 0)
                throw system_error("cannot create symlink");
            set_owner_and_times(entry, pfd, name, false);
            break;
        }
        case AE_IFCHR:
        case AE_IFBLK:
            if (!options_.image_layer)
                throw Error("device nodes are not allowed in an image archive");
            if (!options_.preserve_owner) {
                log::debug("skipping device node " + printable(path) + " (not running as root)");
                return;
            }
            clear_slot(pfd, name, false);
            if (::mknodat(pfd, name.c_str(), type | (archive_entry_perm(entry) & 07777),
                          makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry))) <
                0)
                throw system_error("cannot create device node");
            set_owner_and_times(entry, pfd, name, true);
            break;
        case AE_IFIFO:
            clear_slot(pfd, name, false);
            if (::mkfifoat(pfd, name.c_str(), 0600) < 0) throw system_error("cannot create fifo");
            set_owner_and_times(entry, pfd, name, true);
            break;
        case AE_IFSOCK:
            return;  // sockets are runtime objects; tar cannot carry their meaning
        default:
            throw Error("unsupported entry type " + std::to_string(type));
    }
    touch(path);
}

void TreeWriter::write_regular(LayerReader& reader, archive_entry* entry, int parent_fd,
                               const std::string& name) {
    clear_slot(parent_fd, name, false);
    int raw_fd = ::openat(parent_fd, name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (raw_fd < 0) throw system_error("cannot create file");
    UniqueFd fd(raw_fd);
    int64_t size = archive_entry_size(entry);
    const void* data = nullptr;
    size_t length = 0;
    int64_t offset = 0;
    int64_t end = 0;
    while (reader.read_block(&data, &length, &offset)) {
        if (offset < 0 || offset + static_cast<int64_t>(length) > size)
            throw Error("data beyond the entry's declared size");
        const char* p = static_cast<const char*>(data);
        size_t left = length;
        off_t at = offset;
        while (left > 0) {
            ssize_t n = io::retry_eintr([&] { return ::pwrite(fd.get(), p, left, at); });
            if (n < 0) {
                throw system_error("cannot write file");
            }
            p += n;
            at += n;
            left -= static_cast<size_t>(n);
        }
        end = std::max(end, offset + static_cast<int64_t>(length));
    }
    if (end < size && ::ftruncate(fd.get(), size) < 0) throw system_error("cannot size file");

    mode_t mode = archive_entry_perm(entry) & 07777;
    if (options_.preserve_owner) {
        // chown before chmod: chown clears set-id bits.
        if (::fchown(fd.get(), archive_entry_uid(entry), archive_entry_gid(entry)) < 0)
            throw system_error("cannot set owner");
        apply_xattrs(entry, fd.get());
    } else {
        mode &= 0777;
        if (!options_.image_layer) mode |= 0600;
    }
    if (::fchmod(fd.get(), mode) < 0) throw system_error("cannot set mode");
    struct timespec times[2] = {entry_mtime(entry), entry_mtime(entry)};
    if (::futimens(fd.get(), times) < 0) throw system_error("cannot set times");
}

void TreeWriter::make_directory(archive_entry* entry, int parent_fd, const std::string& name,
                                const std::string& path) {
    if (!clear_slot(parent_fd, name, true) && ::mkdirat(parent_fd, name.c_str(), 0700) < 0)
        throw system_error("cannot create directory");
    bool opaque = false;
    if (options_.preserve_owner) {
        if (::fchownat(parent_fd, name.c_str(), archive_entry_uid(entry), archive_entry_gid(entry),
                       AT_SYMLINK_NOFOLLOW) < 0)
            throw system_error("cannot set owner");
        int fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw system_error("cannot open directory");
        UniqueFd dir(fd);
        apply_xattrs(entry, dir.get());
    }
    if (options_.image_layer) {
        const char* xname = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        archive_entry_xattr_reset(entry);
        while (archive_entry_xattr_next(entry, &xname, &value, &size) == ARCHIVE_OK)
            if (xname == kOverlayOpaqueXattr && size == 1 &&
                *static_cast<const char*>(value) == 'y')
                opaque = true;
    }
    // Mode and mtime wait for the end of the layer: creating children would change the mtime,
    // and a read-only mode would stop an unprivileged writer from creating them.
    mode_t mode = archive_entry_perm(entry) & 07777;
    if (!options_.preserve_owner) mode = (mode & 0777) | 0700;
    deferred_dirs_.push_back({path, mode, entry_mtime(entry)});
    if (opaque) make_opaque(path);
}

void TreeWriter::make_hardlink(const std::string& target, int parent_fd, const std::string& name) {
    auto [target_parent, target_name] = safe_fs::split_parent(target);
    if (target_name.empty()) throw Error("hard link to the root directory");
    int src = safe_fs::open_beneath_raw(root_fd_, target_parent, O_PATH | O_DIRECTORY);
    if (src == -ENOENT || src == -ENOTDIR)
        throw Error("hard link to \"" + printable(target) + "\", which is not in the tree");
    UniqueFd src_parent = src < 0
                              ? safe_fs::open_beneath(root_fd_, target_parent, O_PATH | O_DIRECTORY)
                              : UniqueFd(src);
    struct stat st {};
    if (::fstatat(src_parent.get(), target_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        throw Error("hard link to \"" + printable(target) + "\", which is not in the tree");
    if (S_ISDIR(st.st_mode)) throw Error("hard link to a directory");
    clear_slot(parent_fd, name, false);
    // Flags 0: link the entry itself, even when it is a symlink.
    if (::linkat(src_parent.get(), target_name.c_str(), parent_fd, name.c_str(), 0) < 0)
        throw system_error("cannot create hard link");
}

void TreeWriter::set_owner_and_times(archive_entry* entry, int parent_fd, const std::string& name,
                                     bool set_mode) {
    if (options_.preserve_owner && ::fchownat(parent_fd, name.c_str(), archive_entry_uid(entry),
                                              archive_entry_gid(entry), AT_SYMLINK_NOFOLLOW) < 0)
        throw system_error("cannot set owner");
    if (set_mode) {
        mode_t mode = archive_entry_perm(entry) & (options_.preserve_owner ? 07777 : 0777);
        if (::fchmodat(parent_fd, name.c_str(), mode, 0) < 0) throw system_error("cannot set mode");
    }
    struct timespec times[2] = {entry_mtime(entry), entry_mtime(entry)};
    if (::utimensat(parent_fd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0)
        throw system_error("cannot set times");
}

void TreeWriter::apply_xattrs(archive_entry* entry, int fd) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    archive_entry_xattr_reset(entry);
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
        if (std::string_view(name).starts_with(kOverlayXattrPrefix)) continue;
        // Best effort: the file system may not support a namespace (e.g. security.selinux).
        if (::fsetxattr(fd, name, value, size, 0) < 0)
            log::debug(std::string("cannot set xattr ") + name + ": " + std::strerror(errno));
    }
}

void TreeWriter::touch(const std::string& path) {
    if (touched_.insert(path).second) {
        touched_bytes_ += path.size() + sizeof(std::string);
        if (touched_bytes_ > kMaxTouchedPathBytes)
            throw Error("the layer's paths take more than " +
                        std::to_string(kMaxTouchedPathBytes >> 20) + " MiB");
    }
}

bool TreeWriter::has_touched_descendant(const std::string& path) const {
    std::string prefix = path.empty() ? "" : path + "/";
    auto it = touched_.lower_bound(prefix);
    return it != touched_.end() && it->starts_with(prefix) && *it != path;
}

void TreeWriter::remove_lower(const std::string& path) {
    auto [parent, name] = safe_fs::split_parent(path);
    int raw = safe_fs::open_beneath_raw(root_fd_, parent, O_PATH | O_DIRECTORY);
    if (raw == -ENOENT || raw == -ENOTDIR) return;  // nothing below to hide
    UniqueFd parent_fd =
        raw < 0 ? safe_fs::open_beneath(root_fd_, parent, O_PATH | O_DIRECTORY) : UniqueFd(raw);
    if (!touched_.count(path) && !has_touched_descendant(path)) {
        safe_fs::remove_at(parent_fd.get(), name);
        return;
    }
    // This layer wrote here too: keep its entries and remove only the lower ones around them.
    int fd =
        ::openat(parent_fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;  // a file of this layer: stays
    UniqueFd dir(fd);
    for (const auto& child : list_dir(dir.get())) remove_lower(join_path(path, child));
}

void TreeWriter::make_opaque(const std::string& dir) {
    UniqueFd dir_fd = safe_fs::ensure_dir_beneath(root_fd_, dir);
    UniqueFd listing = safe_fs::open_beneath(root_fd_, dir, O_RDONLY | O_DIRECTORY);
    for (const auto& child : list_dir(listing.get())) remove_lower(join_path(dir, child));
}

void TreeWriter::finish_directories() {
    for (auto it = deferred_dirs_.rbegin(); it != deferred_dirs_.rend(); ++it) {
        int fd = safe_fs::open_beneath_raw(root_fd_, it->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        if (fd < 0) continue;  // replaced later in the layer
        UniqueFd dir(fd);
        if (::fchmod(dir.get(), it->mode) < 0) throw system_error("cannot set mode of a directory");
        struct timespec times[2] = {it->mtime, it->mtime};
        if (::futimens(dir.get(), times) < 0) throw system_error("cannot set times of a directory");
    }
    deferred_dirs_.clear();
}

}  // namespace rkt::store
