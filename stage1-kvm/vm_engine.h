// What the kvm stage1 needs from a way to run its VM: boot it with the pod's disks, shares and
// protocol channel, say when it has ended and how, and end it at once when told. Two engines:
// QEMU (qemu_engine.cpp) and the built-in VMM running in this very process (builtin_engine.cpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "stage1-kvm/pod_plan.h"

namespace rkt::kvm {

struct VmLaunch {
    stdfs::path stage1_dir;  // holds bzImage, vmlinux and guest-init
    stdfs::path initramfs;
    std::string guest_arguments;  // kernel arguments of the pod (quiet, rkt.debug, extra ones)
    VmSize size;
    std::vector<AppDisk> disks;
    std::vector<HostShare> shares;
    stdfs::path console_log;  // the guest kernel's console
    stdfs::path engine_log;   // the engine's own messages (QEMU's stderr)
};

struct VmEnd {
    bool clean = false;  // the VM ended itself (reset/power-off) or was stopped by us
    bool killed_by_us = false;
    std::string description;  // "QEMU exited with status 1: ...", "guest-reset", ...
};

class VmEngine {
public:
    virtual ~VmEngine() = default;
    // "QEMU (TCG)", "the built-in VMM", for messages.
    virtual std::string name() const = 0;
    // Boots the VM. Returns the host's end of the guest protocol channel (non-blocking).
    // Throws rkt::Error when the VM cannot be started.
    virtual UniqueFd start(const VmLaunch& launch) = 0;
    // Readable once the VM has ended.
    virtual int ended_fd() const = 0;
    // Ends the VM at once (idempotent; the VM's end is then seen through ended_fd()).
    virtual void kill() = 0;
    // After ended_fd() became readable: releases the VM and says how it ended.
    virtual VmEnd finish() = 0;
};

std::unique_ptr<VmEngine> make_qemu_engine(bool kvm_accel);
std::unique_ptr<VmEngine> make_builtin_engine();

}  // namespace rkt::kvm
