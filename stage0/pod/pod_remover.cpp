#include "stage0/pod/pod_remover.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "stage0/pod/stage1_launch.h"

namespace rkt {

namespace {

// /proc/self/mountinfo escapes spaces and friends as \ooo.
std::string unescape_mount_path(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
            out.push_back(static_cast<char>(v));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

void remove_at(int parent_fd, const char* name, dev_t dev) {
    struct stat st {};
    if (::fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != dev)
            throw Error(std::string("refusing to remove ") + name +
                        ": it is on another file system (still mounted?)");
        int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw system_error(std::string("cannot open ") + name);
        UniqueFd dfd(fd);
        DIR* d = ::fdopendir(::dup(fd));
        if (!d) throw system_error(std::string("cannot list ") + name);
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        ::closedir(d);
        for (const auto& n : names) remove_at(dfd.get(), n.c_str(), dev);
        if (::unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
            throw system_error(std::string("cannot remove ") + name);
    } else if (::unlinkat(parent_fd, name, 0) != 0 && errno != ENOENT) {
        throw system_error(std::string("cannot remove ") + name);
    }
}

}  // namespace

void unmount_below(const std::filesystem::path& dir) {
    std::string prefix = dir.lexically_normal().string();
    std::vector<std::string> points;
    std::istringstream in(fs::read_file("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, mount_point;
        fields >> id >> parent >> devno >> root >> mount_point;
        std::string mp = unescape_mount_path(mount_point);
        if (mp == prefix || mp.rfind(prefix + "/", 0) == 0) points.push_back(mp);
    }
    std::sort(points.begin(), points.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& p : points) {
        if (::umount2(p.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            log::warn("cannot unmount " + p + ": " + std::strerror(errno));
    }
}

void remove_same_fs_tree(const std::filesystem::path& dir) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return;
    UniqueFd parent = fs::open_dir(dir.parent_path());
    remove_at(parent.get(), dir.filename().c_str(), st.st_dev);
}

bool sweep_pod(Context& ctx, const pod::Pod& p) {
    FileLock lock = FileLock::try_acquire(p.path(), FileLock::Mode::kExclusive);
    if (!lock.valid()) return false;
    try {
        Stage1 stage1 = load_pod_stage1(p.path());
        std::vector<std::string> args;
        if (ctx.global.debug) args.push_back("--debug");
        args.push_back(p.uuid());
        int code = run_stage1_entrypoint(stage1, "gc", p.path(), args);
        if (code != 0)
            log::warn("stage1 gc of pod " + p.uuid() + " exited with " + std::to_string(code));
    } catch (const Error& e) {
        log::debug(std::string("skipping stage1 gc: ") + e.what());
    }
    unmount_below(p.path());
    remove_same_fs_tree(p.path());
    return true;
}

}  // namespace rkt
