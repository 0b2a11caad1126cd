#include "vmm/qemu/qemu_process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"

namespace rkt::vmm::qemu {

namespace {

// Where things are in QEMU's jail.
constexpr const char* kKernel = "/vm/kernel";
constexpr const char* kInitrd = "/vm/initrd";
constexpr const char* kShareDir = "/vm/share-";
// QEMU's descriptors: the protocol channel, then one per disk, then one per tap.
constexpr int kProtocolFd = 3;
constexpr int kFirstDiskFd = 4;

}  // namespace

std::string find_qemu(const std::string& name) {
    auto binary = find_executable(name);
    if (!binary)
        throw Error(name +
                    " is not installed (Debian package qemu-system-x86); the kvm stage1's QEMU "
                    "engine needs it");
    std::error_code ec;
    std::string real = std::filesystem::canonical(*binary, ec).string();
    if (ec) throw Error("cannot resolve the QEMU binary " + *binary);
    if (real.rfind("/usr/", 0) != 0)
        throw Error("the QEMU binary " + real +
                    " is not under /usr, the only system directory of QEMU's jail");
    return real;
}

QemuLaunchPlan plan_qemu_launch(const QemuVmSpec& host, const QemuJailOptions& options) {
    QemuLaunchPlan plan;
    plan.spec = host;
    QemuVmSpec& s = plan.spec;
    JailSpec& j = plan.jail;
    s.binary = find_qemu(host.binary);
    s.sandbox = true;
    j.mount_point = options.jail_dir;
    j.system_files = true;
    j.proc = true;  // 9p's chmod goes through /proc/self/fd
    j.dev = true;
    j.uid = options.uid;
    j.gid = options.gid;

    j.binds.push_back({host.kernel, kKernel});
    s.kernel = kKernel;
    j.binds.push_back({host.initrd, kInitrd});
    s.initrd = kInitrd;

    plan.fds.push_back({host.protocol_fd, kProtocolFd});
    s.protocol_fd = kProtocolFd;
    for (size_t i = 0; i < host.disks.size(); ++i) {
        const QemuDisk& d = host.disks[i];
        int flags = (d.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
        plan.opened.push_back(fs::open_file(d.path, flags));
        int fd = kFirstDiskFd + static_cast<int>(i);
        int set = static_cast<int>(i) + 1;
        plan.fds.push_back({plan.opened.back().get(), fd});
        s.fd_sets.push_back({fd, set});
        s.disks[i].path = "/dev/fdset/" + std::to_string(set);
    }
    // The taps are the caller's, open until QEMU ends; QEMU gets them as they are.
    int first_tap_fd = kFirstDiskFd + static_cast<int>(host.disks.size());
    for (size_t i = 0; i < host.nics.size(); ++i) {
        if (host.nics[i].tap_fd < 0) throw Error("QEMU engine: a network interface has no tap");
        int fd = first_tap_fd + static_cast<int>(i);
        plan.fds.push_back({host.nics[i].tap_fd, fd});
        s.nics[i].tap_fd = fd;
    }
    for (size_t i = 0; i < host.shares.size(); ++i) {
        const QemuShare& sh = host.shares[i];
        std::string target = kShareDir + std::to_string(i);
        j.binds.push_back({sh.path, target, true, !sh.read_only, true});
        s.shares[i].path = target;
    }

    if (host.accel == Accel::kKvm) {
        struct stat st {};
        if (::stat(options.kvm_device.c_str(), &st) != 0 || !S_ISCHR(st.st_mode))
            throw Error(options.kvm_device + " is not a character device");
        j.kvm_device = st.st_rdev;
    }
    if (host.shares.empty()) {
        // QEMU writes no file at all then (the console and its messages are pipes).
        j.max_file_size = 0;
    } else {
        // 9p passthrough: creating files for the guest's users, and using them whoever owns
        // them. Not CAP_FSETID (so writes clear setuid bits), not CAP_MKNOD, not CAP_SETFCAP.
        j.capabilities = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER};
    }
    if (!options.marker.empty()) plan.env = {options.marker};
    return plan;
}

VmmProcess start_qemu(const QemuLaunchPlan& plan, VmmStdio stdio) {
    PreparedJail jail = PreparedJail::prepare(plan.jail);
    return VmmProcess::exec(jail, plan.fds, stdio, qemu_argv(plan.spec), plan.env);
}

}  // namespace rkt::vmm::qemu
