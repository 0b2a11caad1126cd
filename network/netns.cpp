#include "network/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/fs.h"

namespace rkt::net {

namespace {

// What `ip netns add` does to the directory: a shared mount (bound onto itself when it is not a
// mount point yet), so that a namespace bound in it is seen by every mount namespace that
// later copies the host's.
void prepare_netns_dir(const std::string& dir) {
    fs::make_dirs(dir, 0755);
    if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return;
    if (errno != EINVAL) throw system_error("cannot make " + dir + " a shared mount");
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
        throw system_error("cannot bind " + dir + " onto itself");
    if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0)
        throw system_error("cannot make " + dir + " a shared mount");
}

// An empty file at `path` to bind a namespace on; an existing one is an error.
void create_mount_point(const std::string& path) {
    prepare_netns_dir(std::filesystem::path(path).parent_path().string());
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!fd && errno == EEXIST)
        throw Error("network namespace " + path +
                    " exists already (left by an earlier pod? `ip netns delete " +
                    std::filesystem::path(path).filename().string() + "` removes it)");
    if (!fd) throw system_error("cannot create " + path);
}

void bind_namespace(const std::string& source, const std::string& path) {
    create_mount_point(path);
    if (::mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
        Error e = system_error("cannot bind the network namespace " + source + " at " + path);
        ::unlink(path.c_str());
        throw e;
    }
}

void bring_loopback_up() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) throw system_error("cannot open a socket to bring lo up");
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) throw system_error("cannot read lo's flags");
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) throw system_error("cannot bring lo up");
}

}  // namespace

std::string netns_path_for(const std::string& uuid) {
    if (uuid.empty() || uuid.find('/') != std::string::npos || uuid == "." || uuid == "..")
        throw Error("\"" + uuid + "\" is not a pod UUID for a network namespace name");
    return "/run/netns/rkt-" + uuid;
}

void bind_netns_of(pid_t pid, const std::string& path) {
    bind_namespace("/proc/" + std::to_string(pid) + "/ns/net", path);
}

void create_netns(const std::string& path) {
    create_mount_point(path);
    // A thread of our own enters a new namespace (only that thread moves), brings its lo up and
    // binds it; the bind keeps the namespace alive once the thread is gone.
    std::exception_ptr failure;
    std::thread maker([&] {
        try {
            if (::unshare(CLONE_NEWNET) != 0)
                throw system_error("cannot create a network namespace");
            bring_loopback_up();
            if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0)
                throw system_error("cannot bind the new network namespace at " + path);
        } catch (...) {
            failure = std::current_exception();
        }
    });
    maker.join();
    if (failure) {
        ::umount2(path.c_str(), MNT_DETACH);
        ::unlink(path.c_str());
        std::rethrow_exception(failure);
    }
}

bool is_bound_netns(const std::string& path) {
    constexpr long kNsfsMagic = 0x6e736673;  // NSFS_MAGIC
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && st.f_type == kNsfsMagic;
}

void remove_netns(const std::string& path) {
    // A namespace bound twice (two binds racing) needs two unmounts; EINVAL: no mount left.
    for (int i = 0; i < 8; ++i) {
        if (::umount2(path.c_str(), MNT_DETACH) == 0) continue;
        if (errno == EINVAL || errno == ENOENT) break;
        throw system_error("cannot unmount the network namespace " + path);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw system_error("cannot remove " + path);
}

NetnsEntry::NetnsEntry(const std::string& path)
    : original_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (!original_) throw system_error("cannot open this thread's network namespace");
    UniqueFd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target) throw system_error("cannot open the network namespace " + path);
    if (::setns(target.get(), CLONE_NEWNET) != 0)
        throw system_error("cannot enter the network namespace " + path);
}

NetnsEntry::~NetnsEntry() {
    // Staying in the pod's namespace would send the rest of this thread's work there.
    if (::setns(original_.get(), CLONE_NEWNET) != 0) std::terminate();
}

}  // namespace rkt::net
