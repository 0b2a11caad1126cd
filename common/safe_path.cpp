#include "common/safe_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::safe_path {

namespace {

std::string relative(const std::string& rel) {
    size_t i = 0;
    while (i < rel.size() && rel[i] == '/') ++i;
    std::string r = rel.substr(i);
    return r.empty() ? "." : r;
}

UniqueFd do_openat2(int root_fd, const std::string& rel, int flags, mode_t mode, uint64_t resolve) {
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
    std::string r = relative(rel);
    for (;;) {
        long fd = ::syscall(SYS_openat2, root_fd, r.c_str(), &how, sizeof how);
        if (fd >= 0) return UniqueFd(static_cast<int>(fd));
        if (errno == EAGAIN || errno == EINTR) continue;
        if (errno == EXDEV || errno == ELOOP)
            throw Error("path " + rel + " leads outside its root directory through a symlink");
        throw system_error("cannot open " + rel);
    }
}

}  // namespace

UniqueFd open_beneath(int root_fd, const std::string& rel, int flags, mode_t mode) {
    return do_openat2(root_fd, rel, flags, mode, RESOLVE_BENEATH);
}

UniqueFd open_in_root(int root_fd, const std::string& rel, int flags, mode_t mode) {
    return do_openat2(root_fd, rel, flags, mode, RESOLVE_IN_ROOT);
}

UniqueFd make_dirs_beneath(int root_fd, const std::string& rel, mode_t mode) {
    UniqueFd dir = open_beneath(root_fd, ".", O_PATH | O_DIRECTORY);
    std::string walked;
    for (const auto& part : strings::split(relative(rel), '/')) {
        if (part.empty() || part == ".") continue;
        if (part == "..") throw Error("path " + rel + " must not contain \"..\"");
        walked += "/" + part;
        if (::mkdirat(dir.get(), part.c_str(), mode) != 0 && errno != EEXIST)
            throw system_error("cannot create directory " + walked);
        // Re-open beneath the *root* each step: a component that is a symlink escaping it fails.
        dir = open_beneath(root_fd, walked, O_PATH | O_DIRECTORY);
    }
    return dir;
}

UniqueFd make_file_beneath(int root_fd, const std::string& rel, mode_t mode) {
    std::string r = relative(rel);
    auto slash = r.rfind('/');
    if (slash != std::string::npos) make_dirs_beneath(root_fd, r.substr(0, slash));
    open_beneath(root_fd, r, O_WRONLY | O_CREAT | O_NOFOLLOW, mode);
    return open_beneath(root_fd, r, O_PATH);
}

std::string fd_path(int fd) {
    return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace rkt::safe_path
