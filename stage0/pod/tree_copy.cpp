#include "stage0/pod/tree_copy.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "stage0/store/safe_fs.h"

namespace rkt {

namespace {

constexpr std::string_view kCapabilityXattr = "security.capability";
constexpr std::string_view kAclAccessXattr = "system.posix_acl_access";
constexpr std::string_view kAclDefaultXattr = "system.posix_acl_default";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
constexpr size_t kMaxXattrList = size_t{64} * 1024;
constexpr size_t kMaxXattrValue = size_t{64} * 1024;
constexpr size_t kCopyChunk = 1 << 30;

// POSIX ACL xattr layout (include/uapi/linux/posix_acl_xattr.h): a version header, then
// entries whose id counts for named users and groups.
constexpr uint32_t kAclXattrVersion = 2;
constexpr uint16_t kAclUser = 0x02;
constexpr uint16_t kAclGroup = 0x08;
struct AclEntry {
    uint16_t tag;
    uint16_t perm;
    uint32_t id;
};

std::string child_path(const std::string& parent, const std::string& name) {
    return parent == "/" ? "/" + name : parent + "/" + name;
}

bool same_object(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
           (a.st_mode & S_IFMT) == (b.st_mode & S_IFMT);
}

// file capabilities carry the uid that is root for them (v3, "rootid"); a v2 capability
// belongs to the host's root, whom the pod's user namespace does not map, so it would be
// ignored in the pod: it becomes a v3 one whose root is the pod's root.
std::string shift_capability(const std::string& value, const IdShift& shift,
                             const std::string& path) {
    auto le32 = [&](size_t offset) {
        uint32_t v;
        std::memcpy(&v, value.data() + offset, 4);
        return le32toh(v);
    };
    if (value.size() < 4) throw Error(path + ": malformed file capability");
    uint32_t magic = le32(0);
    uint32_t revision = magic & VFS_CAP_REVISION_MASK;
    vfs_ns_cap_data out{};
    uint32_t rootid = 0;
    if (revision == VFS_CAP_REVISION_1 && value.size() == XATTR_CAPS_SZ_1) {
        out.data[0].permitted = htole32(le32(4));
        out.data[0].inheritable = htole32(le32(8));
    } else if ((revision == VFS_CAP_REVISION_2 && value.size() == XATTR_CAPS_SZ_2) ||
               (revision == VFS_CAP_REVISION_3 && value.size() == XATTR_CAPS_SZ_3)) {
        for (int i = 0; i < 2; ++i) {
            out.data[i].permitted = htole32(le32(4 + 8 * i));
            out.data[i].inheritable = htole32(le32(8 + 8 * i));
        }
        if (revision == VFS_CAP_REVISION_3) rootid = le32(20);
    } else {
        throw Error(path + ": malformed file capability (revision " +
                    std::to_string(revision >> 24) + ", " + std::to_string(value.size()) +
                    " bytes)");
    }
    out.magic_etc = htole32(VFS_CAP_REVISION_3 | (magic & VFS_CAP_FLAGS_EFFECTIVE));
    out.rootid = htole32(shifted_id(shift, rootid, path));
    return std::string(reinterpret_cast<const char*>(&out), sizeof out);
}

std::string shift_acl(const std::string& value, const IdShift& shift, const std::string& path) {
    if (value.size() < 4 || (value.size() - 4) % sizeof(AclEntry) != 0)
        throw Error(path + ": malformed POSIX ACL");
    uint32_t version;
    std::memcpy(&version, value.data(), 4);
    if (le32toh(version) != kAclXattrVersion) throw Error(path + ": unknown POSIX ACL version");
    std::string out = value;
    for (size_t off = 4; off < out.size(); off += sizeof(AclEntry)) {
        AclEntry e;
        std::memcpy(&e, out.data() + off, sizeof e);
        uint16_t tag = le16toh(e.tag);
        if (tag != kAclUser && tag != kAclGroup) continue;
        e.id = htole32(shifted_id(shift, le32toh(e.id), path));
        std::memcpy(out.data() + off, &e, sizeof e);
    }
    return out;
}

class TreeCopier {
public:
    TreeCopier(const TreeCopyOptions& options, int dest_root_fd)
        : options_(options), dest_root_fd_(dest_root_fd) {}

    // Copies what is inside `src` (an open directory) into `dst`.
    void copy_contents(int src, int dst, const std::string& path, const std::string& rel,
                       int depth) {
        for (const auto& name : list(src, path)) {
            std::string p = child_path(path, name);
            std::string r = rel.empty() ? name : rel + "/" + name;
            copy_entry(src, dst, name, p, r, depth);
        }
    }

    // Owners, mode, extended attributes and times of an object both of whose descriptors are
    // open (a directory or a regular file). In that order: chown clears set-id bits and file
    // capabilities, and setting an ACL rewrites the mode's group bits to its mask.
    void finish(int src, int dst, const struct stat& st, const std::string& path) {
        if (::fchown(dst, shifted_id(options_.shift, st.st_uid, path),
                     shifted_id(options_.shift, st.st_gid, path)) != 0)
            throw system_error("cannot set the owner of " + path);
        if (::fchmod(dst, st.st_mode & 07777) != 0)
            throw system_error("cannot set the mode of " + path);
        copy_xattrs(src, dst, path);
        timespec times[2] = {st.st_atim, st.st_mtim};
        if (::futimens(dst, times) != 0) throw system_error("cannot set the times of " + path);
    }

    TreeCopyStats stats;

private:
    static std::vector<std::string> list(int dir_fd, const std::string& path) {
        int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw system_error("cannot read directory " + path);
        DIR* d = ::fdopendir(fd);
        if (!d) {
            ::close(fd);
            throw system_error("cannot read directory " + path);
        }
        std::vector<std::string> names;
        errno = 0;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(std::move(n));
            errno = 0;
        }
        int err = errno;
        ::closedir(d);
        if (err != 0) throw Error("cannot read directory " + path + ": " + std::strerror(err));
        std::sort(names.begin(), names.end());
        return names;
    }

    void copy_entry(int src_dir, int dst_dir, const std::string& name, const std::string& path,
                    const std::string& rel, int depth) {
        struct stat st {};
        if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            throw system_error("cannot read " + path);
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && link_to_earlier(st, dst_dir, name, path))
            return;
        switch (st.st_mode & S_IFMT) {
            case S_IFDIR:
                copy_directory(src_dir, dst_dir, name, st, path, rel, depth);
                break;
            case S_IFREG:
                copy_file(src_dir, dst_dir, name, st, path);
                break;
            case S_IFLNK:
                copy_symlink(src_dir, dst_dir, name, st, path);
                break;
            case S_IFCHR:
            case S_IFBLK:
            case S_IFIFO:
            case S_IFSOCK:
                copy_special(dst_dir, name, st, path);
                break;
            default:
                throw Error("cannot copy " + path + ": unknown file type");
        }
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) links_[{st.st_dev, st.st_ino}] = rel;
    }

    // A further name of an inode copied before becomes a hard link to that copy.
    bool link_to_earlier(const struct stat& st, int dst_dir, const std::string& name,
                         const std::string& path) {
        auto it = links_.find({st.st_dev, st.st_ino});
        if (it == links_.end()) return false;
        auto [parent, base] = store::safe_fs::split_parent(it->second);
        UniqueFd parent_fd =
            store::safe_fs::open_beneath(dest_root_fd_, parent, O_PATH | O_DIRECTORY);
        if (::linkat(parent_fd.get(), base.c_str(), dst_dir, name.c_str(), 0) != 0)
            throw system_error("cannot link " + path);
        ++stats.hard_links;
        return true;
    }

    // Opens `name` in `dir` without following it and checks it is the object that was listed.
    static UniqueFd open_checked(int dir, const std::string& name, int flags, const struct stat& st,
                                 const std::string& path) {
        UniqueFd fd(::openat(dir, name.c_str(), flags | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
        if (!fd) throw system_error("cannot open " + path);
        struct stat now {};
        if (::fstat(fd.get(), &now) != 0) throw system_error("cannot read " + path);
        if (!same_object(st, now)) throw Error(path + " changed while it was being copied");
        return fd;
    }

    void copy_directory(int src_dir, int dst_dir, const std::string& name, const struct stat& st,
                        const std::string& path, const std::string& rel, int depth) {
        if (depth >= options_.max_depth)
            throw Error("cannot copy " + path + ": the tree is deeper than " +
                        std::to_string(options_.max_depth) + " directories");
        UniqueFd src = open_checked(src_dir, name, O_RDONLY | O_DIRECTORY, st, path);
        if (::mkdirat(dst_dir, name.c_str(), 0700) != 0)
            throw system_error("cannot create " + path);
        UniqueFd dst(
            ::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dst) throw system_error("cannot open " + path);
        copy_contents(src.get(), dst.get(), path, rel, depth + 1);
        finish(src.get(), dst.get(), st, path);
        ++stats.directories;
    }

    void copy_file(int src_dir, int dst_dir, const std::string& name, const struct stat& st,
                   const std::string& path) {
        // O_NONBLOCK: should the name have become a FIFO since it was listed, opening it must
        // not hang (the check after opening then refuses it).
        UniqueFd src = open_checked(src_dir, name, O_RDONLY | O_NONBLOCK, st, path);
        UniqueFd dst(::openat(dst_dir, name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!dst) throw system_error("cannot create " + path);
        copy_data(src.get(), dst.get(), static_cast<uint64_t>(st.st_size), path);
        finish(src.get(), dst.get(), st, path);
        ++stats.files;
        stats.bytes += static_cast<uint64_t>(st.st_size);
    }

    // Shares the extents when the file system can (FICLONE: btrfs, XFS), else copies in the
    // kernel (copy_file_range), else through a buffer. At most the size seen when the file was
    // listed: a source that keeps growing cannot make the copy endless.
    void copy_data(int src, int dst, uint64_t size, const std::string& path) {
        if (size > 0 && ::ioctl(dst, FICLONE, src) == 0) {
            ++stats.cloned_files;
            if (::ftruncate(dst, static_cast<off_t>(size)) != 0)
                throw system_error("cannot copy " + path);
            return;
        }
        uint64_t done = 0;
        bool kernel_copy = true;
        while (done < size && kernel_copy) {
            ssize_t n = io::retry_eintr([&] {
                return ::copy_file_range(src, nullptr, dst, nullptr,
                                         std::min<uint64_t>(size - done, kCopyChunk), 0);
            });
            if (n < 0 && done == 0 &&
                (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
                kernel_copy = false;
                break;
            }
            if (n < 0) throw system_error("cannot copy " + path);
            if (n == 0) return;  // it shrank
            done += static_cast<uint64_t>(n);
        }
        if (kernel_copy) return;
        std::vector<char> buf(1 << 20);
        while (done < size) {
            ssize_t n = io::read_some(src, buf.data(), std::min<uint64_t>(size - done, buf.size()));
            if (n < 0) throw system_error("cannot read " + path);
            if (n == 0) return;
            io::write_all(dst, std::string_view(buf.data(), static_cast<size_t>(n)), path);
            done += static_cast<uint64_t>(n);
        }
    }

    void copy_symlink(int src_dir, int dst_dir, const std::string& name, const struct stat& st,
                      const std::string& path) {
        std::vector<char> target(PATH_MAX + 1);
        ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
        if (n < 0) throw system_error("cannot read the symlink " + path);
        if (static_cast<size_t>(n) >= target.size())
            throw Error("the symlink " + path + " is too long");
        std::string text(target.data(), static_cast<size_t>(n));
        if (::symlinkat(text.c_str(), dst_dir, name.c_str()) != 0)
            throw system_error("cannot create " + path);
        set_metadata_at(dst_dir, name, st, path, false);
        ++stats.symlinks;
    }

    // Device nodes, FIFOs and sockets are made, never opened (opening a device node may act
    // on the device). Their extended attributes are not copied.
    void copy_special(int dst_dir, const std::string& name, const struct stat& st,
                      const std::string& path) {
        dev_t dev = (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ? st.st_rdev : 0;
        if (::mknodat(dst_dir, name.c_str(), (st.st_mode & S_IFMT) | 0600, dev) != 0)
            throw system_error("cannot create " + path);
        set_metadata_at(dst_dir, name, st, path, true);
        ++stats.special;
    }

    void set_metadata_at(int dir, const std::string& name, const struct stat& st,
                         const std::string& path, bool with_mode) {
        if (::fchownat(dir, name.c_str(), shifted_id(options_.shift, st.st_uid, path),
                       shifted_id(options_.shift, st.st_gid, path), AT_SYMLINK_NOFOLLOW) != 0)
            throw system_error("cannot set the owner of " + path);
        if (with_mode && ::fchmodat(dir, name.c_str(), st.st_mode & 07777, 0) != 0)
            throw system_error("cannot set the mode of " + path);
        timespec times[2] = {st.st_atim, st.st_mtim};
        if (::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
            throw system_error("cannot set the times of " + path);
    }

    void copy_xattrs(int src, int dst, const std::string& path) {
        std::vector<char> names(kMaxXattrList);
        ssize_t len = ::flistxattr(src, names.data(), names.size());
        if (len < 0) {
            if (errno == ENOTSUP || errno == EOPNOTSUPP) return;
            throw system_error("cannot list the extended attributes of " + path);
        }
        std::vector<char> value(kMaxXattrValue);
        for (ssize_t off = 0; off < len;) {
            std::string xname(names.data() + off);
            off += static_cast<ssize_t>(xname.size()) + 1;
            if (xname.empty() || xname.starts_with(kOverlayXattrPrefix)) continue;
            ssize_t n = ::fgetxattr(src, xname.c_str(), value.data(), value.size());
            if (n < 0) {
                if (errno == ENODATA) continue;  // removed meanwhile
                throw system_error("cannot read the extended attribute " + xname + " of " + path);
            }
            std::string v(value.data(), static_cast<size_t>(n));
            bool meaningful =
                xname == kCapabilityXattr || xname == kAclAccessXattr || xname == kAclDefaultXattr;
            if (options_.shift && xname == kCapabilityXattr)
                v = shift_capability(v, *options_.shift, path);
            if (options_.shift && (xname == kAclAccessXattr || xname == kAclDefaultXattr))
                v = shift_acl(v, *options_.shift, path);
            if (::fsetxattr(dst, xname.c_str(), v.data(), v.size(), 0) == 0) continue;
            // What only changes who may do what must not be lost; labels the destination's file
            // system or security module will not take are left behind, as rendering does.
            if (meaningful || xname.starts_with("user.") || xname.starts_with("trusted."))
                throw system_error("cannot set the extended attribute " + xname + " of " + path);
            log::debug("not copying " + xname + " of " + path + ": " + std::strerror(errno));
        }
    }

    const TreeCopyOptions& options_;
    int dest_root_fd_;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;  // source inode -> its first copy
};

}  // namespace

uint32_t shifted_id(const std::optional<IdShift>& shift, uint32_t id, const std::string& path) {
    if (!shift) return id;
    if (!shift->contains(id))
        throw Error("cannot shift the owner of " + path + ": id " + std::to_string(id) +
                    " is outside the pod's user namespace range 0-" +
                    std::to_string(shift->count - 1));
    return shift->shift + id;
}

TreeCopyStats copy_tree(int source_dir_fd, int dest_parent_fd, const std::string& name,
                        const TreeCopyOptions& options) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        throw Error("bad destination name \"" + name + "\"");
    UniqueFd src(::openat(source_dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src) throw system_error("cannot open the tree to copy");
    struct stat st {};
    if (::fstat(src.get(), &st) != 0) throw system_error("cannot read the tree to copy");
    if (::mkdirat(dest_parent_fd, name.c_str(), 0700) != 0)
        throw system_error("cannot create " + name);
    UniqueFd dst(
        ::openat(dest_parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dst) throw system_error("cannot open " + name);
    TreeCopier copier(options, dst.get());
    copier.copy_contents(src.get(), dst.get(), "/", "", 1);
    copier.finish(src.get(), dst.get(), st, "/");
    ++copier.stats.directories;
    return copier.stats;
}

}  // namespace rkt
