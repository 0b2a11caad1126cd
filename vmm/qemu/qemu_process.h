// The QEMU process of one pod, jailed as Firecracker's jailer jails Firecracker (vmm/jail.h):
// its own namespaces and root, where it finds only its own files (/usr, read-only), the guest
// kernel and initramfs (read-only), the pod's 9p shares (nosuid, nodev, noexec), /proc of its
// own PID namespace and /dev with null, urandom and, with KVM, kvm. The app disks are not there
// at all: they are opened here and handed over as fd sets (/dev/fdset/N). It runs as the pod's
// own VMM user (vmm/vmm_user.h) with no capability at all, or, when the pod has host volumes,
// with CAP_CHOWN, CAP_DAC_OVERRIDE and CAP_FOWNER only (9p passthrough: files keep the owners
// the guest gives them; no CAP_FSETID, CAP_MKNOD or CAP_SETFCAP, and rkt's seccomp filter
// refuses setuid/setgid modes and device nodes, so none can appear on the host); QEMU's own
// -sandbox on top. Its only environment variable is `marker`.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/jail.h"
#include "vmm/qemu/qemu_command.h"
#include "vmm/vmm_process.h"

namespace rkt::vmm::qemu {

struct QemuJailOptions {
    std::filesystem::path jail_dir;  // an empty directory: the mount point of QEMU's root
    uid_t uid = 0;
    gid_t gid = 0;
    std::string marker;  // "NAME=VALUE": QEMU's whole environment (how gc and tests find it)
    std::string kvm_device = "/dev/kvm";
};

// What QEMU is started with: the spec with the paths QEMU sees in its jail, the jail, the
// descriptors it gets (the protocol channel, the disks opened here) and its environment.
struct QemuLaunchPlan {
    QemuVmSpec spec;
    JailSpec jail;
    std::vector<UniqueFd> opened;
    std::vector<VmmFd> fds;
    std::vector<std::string> env;
};

// The QEMU binary of `name`, resolved in PATH; an Error that says which package to install
// when it is missing, or that it must live under /usr (the only system directory in the jail).
std::string find_qemu(const std::string& name);

// `host` names host paths, and `host.protocol_fd` is this process's descriptor for QEMU's end
// of the channel. Throws rkt::Error (a file that cannot be opened, a kvm device that is not
// one, ...).
QemuLaunchPlan plan_qemu_launch(const QemuVmSpec& host, const QemuJailOptions& options);

// Starts QEMU as planned; its stdout (the console, with console_on_stdout) and stderr (its own
// messages) go to `stdio`. Throws rkt::Error when it cannot be jailed or executed.
VmmProcess start_qemu(const QemuLaunchPlan& plan, VmmStdio stdio);

}  // namespace rkt::vmm::qemu
