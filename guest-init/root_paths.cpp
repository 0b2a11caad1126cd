#include "guest-init/root_paths.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::guest_init {

namespace {

int openat2_in_root(int root_fd, const std::string& path, int flags) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
}

}  // namespace

UniqueFd open_dir_in_root(int root_fd, const std::string& path, bool create, mode_t mode) {
    size_t start = path.find_first_not_of('/');
    std::string rel = start == std::string::npos ? std::string(".") : path.substr(start);
    UniqueFd fd(openat2_in_root(root_fd, rel, O_PATH | O_DIRECTORY));
    if (fd || errno != ENOENT || !create) {
        if (!fd) throw system_error("cannot open " + path + " in the app's root");
        return fd;
    }
    // Create the missing components one by one, each resolved inside the root.
    std::string done;
    for (const auto& part : strings::split(rel, '/')) {
        if (part.empty() || part == ".") continue;
        std::string next = done.empty() ? part : done + "/" + part;
        UniqueFd probe(openat2_in_root(root_fd, next, O_PATH | O_DIRECTORY));
        if (!probe) {
            if (errno != ENOENT) throw system_error("cannot open " + next + " in the app's root");
            UniqueFd parent(openat2_in_root(root_fd, done.empty() ? "." : done,
                                            O_PATH | O_DIRECTORY));
            if (!parent) throw system_error("cannot open /" + done + " in the app's root");
            if (::mkdirat(parent.get(), part.c_str(), mode) < 0 && errno != EEXIST)
                throw system_error("cannot create /" + next + " in the app's root");
        }
        done = next;
    }
    fd.reset(openat2_in_root(root_fd, rel, O_PATH | O_DIRECTORY));
    if (!fd) throw system_error("cannot open " + path + " in the app's root");
    return fd;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

void mount_checked(const std::string& source, const std::string& target, const char* type,
                   unsigned long flags, const std::string& data, const std::string& what) {
    if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), type, flags,
                data.empty() ? nullptr : data.c_str()) < 0)
        throw system_error("cannot mount " + what);
}

}  // namespace rkt::guest_init
