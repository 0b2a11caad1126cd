#include "stage0/data_dir.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace rkt::data_dir {

namespace {

constexpr const char* kReaderGroupName = "rkt";

// Who a part is for: the pod readers (the top, pods/ and its state directories) or root alone.
enum class Access { kReaders, kRootOnly };

struct Part {
    const char* path;  // relative to the data directory; "" is the directory itself
    Access access;
    bool create;  // made when missing; otherwise checked only when present
};

// Parents before children. Everything below these is made by root inside directories no other
// user can write, so checking these levels covers what rkt opens by path.
constexpr std::array<Part, 19> kParts = {{
    {"", Access::kReaders, true},
    {"pods", Access::kReaders, true},
    {"pods/embryo", Access::kReaders, true},
    {"pods/prepare", Access::kReaders, true},
    {"pods/prepared", Access::kReaders, true},
    {"pods/run", Access::kReaders, true},
    {"pods/exited-garbage", Access::kReaders, true},
    {"pods/garbage", Access::kReaders, true},
    {"locks", Access::kRootOnly, true},
    {"cas", Access::kRootOnly, true},
    {"cas/blobs", Access::kRootOnly, true},
    {"cas/blobs/sha256", Access::kRootOnly, true},
    {"cas/tree", Access::kRootOnly, true},
    {"cas/erofs", Access::kRootOnly, true},
    {"cas/tmp", Access::kRootOnly, true},
    {"cas/locks", Access::kRootOnly, true},
    {"cache", Access::kRootOnly, false},
    {"cache/kvm", Access::kRootOnly, false},
    // The measured-launch event log and the attestation key (docs/tpm.md).
    {"tpm", Access::kRootOnly, false},
}};

std::string owner_name(uid_t uid) {
    std::string out = "uid " + std::to_string(uid);
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found)
        out += std::string(" (") + found->pw_name + ")";
    return out;
}

std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

[[noreturn]] void refuse(const stdfs::path& top, const stdfs::path& path, const std::string& why,
                         const std::string& fix) {
    throw Error("data directory " + top.string() + ": " + path.string() + " " + why +
                ", so root does not use it (another user could plant files that root's pods "
                "would open): " +
                fix + ", or choose another --dir");
}

// Where a checked directory is: a part of the data directory (its owner may simply be wrong, and
// chown fixes it) or a directory above it (which is someone's, and must not be taken from them).
enum class Place { kPart, kAbove };

// Another user can replace or fill a directory they own, or one they may write that has no
// sticky bit (which would keep them to their own entries).
void check_not_changeable(const stdfs::path& top, const stdfs::path& path, const struct stat& st,
                          Place place) {
    bool above = place == Place::kAbove;
    auto fix = [&](const std::string& command) {
        return above ? std::string("move the data directory below directories only root may change")
                     : "if you trust what it holds, " + command + " " + path.string();
    };
    if (st.st_uid != 0)
        refuse(top, path, "is owned by " + owner_name(st.st_uid) + ", not root",
               fix("chown -R root:root"));
    bool sticky = above && (st.st_mode & S_ISVTX);
    if ((st.st_mode & S_IWOTH) && !sticky)
        refuse(top, path, "is writable by every user (mode " + octal(st.st_mode) + ")",
               fix("chmod o-w"));
    if ((st.st_mode & S_IWGRP) && st.st_gid != 0 && !sticky)
        refuse(top, path,
               "is writable by group " + std::to_string(st.st_gid) + " (mode " + octal(st.st_mode) +
                   ")",
               fix("chmod g-w"));
}

// The directories above the data directory: one another user could rename or replace would let
// them swap the data directory under root.
void check_ancestors(const stdfs::path& top) {
    stdfs::path at = top.root_path();
    std::vector<stdfs::path> chain{at};
    for (const auto& component : top.relative_path()) {
        at /= component;
        chain.push_back(at);
    }
    chain.pop_back();  // the data directory itself is a part, checked with the others
    for (const auto& p : chain) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) throw system_error("cannot inspect " + p.string());
        check_not_changeable(top, p, st, Place::kAbove);
    }
}

void secure_part(const stdfs::path& top, int top_fd, const Part& part, mode_t mode, gid_t gid) {
    std::string rel = part.path;
    stdfs::path shown = rel.empty() ? top : top / rel;
    int fd = rel.empty()
                 ? ::dup(top_fd)
                 : ::openat(top_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (!part.create) return;
        if (::mkdirat(top_fd, rel.c_str(), 0700) != 0 && errno != EEXIST)
            throw system_error("cannot create " + shown.string());
        fd = ::openat(top_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            refuse(top, shown, "is not a directory (a symlink?)",
                   "if you trust it, replace it by a directory");
        throw system_error("cannot open " + shown.string());
    }
    UniqueFd dir(fd);
    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) throw system_error("cannot inspect " + shown.string());
    check_not_changeable(top, shown, st, Place::kPart);
    if (st.st_gid != gid && ::fchown(dir.get(), 0, gid) != 0)
        throw system_error("cannot set the owner of " + shown.string());
    if ((st.st_mode & 07777) != mode && ::fchmod(dir.get(), mode) != 0)
        throw system_error("cannot set the mode of " + shown.string());
}

}  // namespace

std::optional<gid_t> reader_group() {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* found = nullptr;
    if (::getgrnam_r(kReaderGroupName, &gr, buf.data(), buf.size(), &found) != 0 || !found)
        return std::nullopt;
    return found->gr_gid;
}

stdfs::path secure(const stdfs::path& dir, std::optional<gid_t> readers) {
    std::error_code ec;
    stdfs::create_directories(dir, ec);
    if (ec) throw Error("cannot create the data directory " + dir.string() + ": " + ec.message());
    stdfs::path top = stdfs::canonical(dir, ec);
    if (ec) throw Error("cannot resolve the data directory " + dir.string() + ": " + ec.message());
    check_ancestors(top);
    int fd = ::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot open the data directory " + top.string());
    UniqueFd top_fd(fd);
    for (const Part& part : kParts) {
        bool shared = part.access == Access::kReaders && readers;
        secure_part(top, top_fd.get(), part, shared ? 02750 : 0700, shared ? *readers : 0);
    }
    return top;
}

void check_pods_readable(const stdfs::path& dir) {
    stdfs::path pods = dir / "pods";
    if (::faccessat(AT_FDCWD, pods.c_str(), R_OK | X_OK, AT_EACCESS) == 0 || errno == ENOENT)
        return;
    int err = errno;
    throw Error("cannot read the pods of " + dir.string() + ": " + std::strerror(err) +
                "; `rkt list` and `rkt status` need root" +
                (reader_group() ? " or membership in the \"rkt\" group"
                                : " (this machine has no \"rkt\" group whose members could read "
                                  "them)"));
}

void check_store_usable(const stdfs::path& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) return;  // made now, as this user's own
        throw system_error("cannot use the data directory " + dir.string());
    }
    if (st.st_uid != ::geteuid())
        throw Error("the image store in " + dir.string() + " is " + owner_name(st.st_uid) +
                    "'s: fetch and the image commands need root, or a --dir of your own");
}

}  // namespace rkt::data_dir
