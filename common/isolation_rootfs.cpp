#include "common/isolation_rootfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <deque>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "common/strings.h"

namespace rkt::rootfs {
namespace {

constexpr int kMaxSymlinks = 40;
constexpr size_t kMaxComponents = 4096;

// Built with append(): GCC 12's -Wrestrict misfires on `"\"" + std::string(path)` (and on
// `name = "."` below) when inlining at -O3.
std::string quoted(std::string_view path) {
    std::string out;
    out.reserve(path.size() + 2);
    out.push_back('"');
    out.append(path);
    out.push_back('"');
    return out;
}

// The name ".", for a path that is the root itself.
void set_to_root_itself(std::string& name) {
    name.assign(1, '.');
}

UniqueFd open_path(int dir_fd, const std::string& name) {
    return UniqueFd(::openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
}

UniqueFd dup_fd(int fd) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) throw system_error("cannot duplicate a descriptor");
    return UniqueFd(copy);
}

void push_front_components(std::deque<std::string>& queue, std::string_view path) {
    std::vector<std::string> parts = strings::split(path, '/');
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
        if (!it->empty() && *it != ".") queue.push_front(*it);
}

// Creates `name` in `dir` as asked; EEXIST (a concurrent creator) is fine.
void create_component(int dir, const std::string& name, bool as_file, mode_t mode,
                      std::string_view path) {
    if (as_file) {
        int fd =
            ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) throw system_error("cannot create " + quoted(path));
        if (fd >= 0) ::close(fd);
        return;
    }
    if (::mkdirat(dir, name.c_str(), mode) < 0) {
        if (errno == EEXIST) return;
        throw system_error("cannot create directory " + quoted(name) + " for " + quoted(path));
    }
    // mkdir's mode is umasked; the mode asked for is the mode wanted.
    if (::fchmodat(dir, name.c_str(), mode, 0) < 0)
        throw system_error("cannot set the mode of " + quoted(name) + " for " + quoted(path));
}

}  // namespace

Resolved resolve(int root_fd, std::string_view path, Create create, mode_t mode, bool follow_last) {
    // A NUL ends a component where the kernel sees it, not here: "..\0" would pass as a name
    // and open the root's parent.
    if (path.find('\0') != std::string_view::npos)
        throw Error("path " + quoted(path.substr(0, path.find('\0'))) + " holds a NUL byte");
    std::vector<UniqueFd> stack;  // stack[0] is the root; stack.back() the current directory
    stack.push_back(dup_fd(root_fd));
    std::deque<std::string> queue;
    push_front_components(queue, path);
    int symlinks = 0;
    size_t steps = 0;

    Resolved out;
    if (queue.empty()) {
        out.parent = dup_fd(root_fd);
        set_to_root_itself(out.name);
        out.fd = dup_fd(root_fd);
        return out;
    }
    while (!queue.empty()) {
        if (++steps > kMaxComponents) throw Error("path " + quoted(path) + " is too long");
        std::string name = std::move(queue.front());
        queue.pop_front();
        bool last = queue.empty();
        if (name == "..") {
            if (stack.size() == 1)
                throw Error("path " + quoted(path) + " leads out of the root (through \"..\")");
            stack.pop_back();
            if (last) {
                out.fd = dup_fd(stack.back().get());
                out.parent = stack.size() > 1 ? dup_fd(stack[stack.size() - 2].get())
                                              : dup_fd(stack.back().get());
                set_to_root_itself(out.name);
                return out;
            }
            continue;
        }
        int dir = stack.back().get();
        UniqueFd fd = open_path(dir, name);
        if (!fd && errno == ENOENT && create != Create::kNothing) {
            create_component(dir, name, last && create == Create::kFile, mode, path);
            fd = open_path(dir, name);
        }
        if (!fd) {
            if (errno == ENOENT && create == Create::kNothing) {
                // Missing: the caller decides whether that is fine. The parent is known only
                // when the last component is the missing one.
                if (last) out.parent = std::move(stack.back());
                out.name = std::move(name);
                return out;
            }
            throw system_error("cannot resolve " + quoted(path) + " (at " + quoted(name) + ")");
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) < 0) throw system_error("cannot stat " + quoted(path));
        if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
            if (++symlinks > kMaxSymlinks)
                throw Error("path " + quoted(path) + " has too many levels of symbolic links");
            std::array<char, 4096> buf{};
            ssize_t n = ::readlinkat(fd.get(), "", buf.data(), buf.size());
            if (n < 0) throw system_error("cannot read the symlink " + quoted(name));
            if (static_cast<size_t>(n) >= buf.size())
                throw Error("symlink " + quoted(name) + " in " + quoted(path) + " is too long");
            std::string_view target(buf.data(), static_cast<size_t>(n));
            if (!target.empty() && target[0] == '/') stack.resize(1);  // absolute: from the root
            push_front_components(queue, target);
            if (queue.empty()) {  // a link to "/"
                out.parent = dup_fd(stack[0].get());
                set_to_root_itself(out.name);
                out.fd = dup_fd(stack[0].get());
                return out;
            }
            continue;
        }
        if (last) {
            out.parent = std::move(stack.back());
            out.name = std::move(name);
            out.fd = std::move(fd);
            return out;
        }
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            throw system_error("cannot resolve " + quoted(path) + " (at " + quoted(name) + ")");
        }
        stack.push_back(std::move(fd));
    }
    throw Error("internal: path resolution of " + quoted(path) + " ended early");
}

UniqueFd open(int root_fd, std::string_view path, int flags, mode_t mode) {
    Resolved r = resolve(root_fd, path, Create::kNothing, 0755, true);
    if (r.name == ".") {
        int fd = ::openat(r.fd.get(), ".", flags | O_CLOEXEC, mode);
        if (fd < 0) throw system_error("cannot open " + quoted(path));
        return UniqueFd(fd);
    }
    if (!r.parent) {
        errno = ENOENT;
        throw system_error("cannot open " + quoted(path));
    }
    int fd = ::openat(r.parent.get(), r.name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) throw system_error("cannot open " + quoted(path));
    return UniqueFd(fd);
}

std::string read_file(int root_fd, std::string_view path, size_t limit) {
    UniqueFd fd = open(root_fd, path, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) throw system_error("cannot stat " + quoted(path));
    if (!S_ISREG(st.st_mode)) throw Error(quoted(path) + " is not a regular file");
    std::string out;
    std::array<char, 16384> buf{};
    for (;;) {
        ssize_t n = io::read_some(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            throw system_error("cannot read " + quoted(path));
        }
        if (n == 0) break;
        if (out.size() + static_cast<size_t>(n) > limit)
            throw Error(quoted(path) + " is larger than " + std::to_string(limit) + " bytes");
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

bool exists(int root_fd, std::string_view path) {
    return resolve(root_fd, path).fd.valid();
}

}  // namespace rkt::rootfs
