// What the kvm stage1 needs from a way to run its VM: boot it with the pod's disks, shares and
// protocol channel, say when it has ended and how, and end it at once when told. Two engines,
// each a jailed process of its own (vmm/jail.h) under the pod's own VMM user (vmm/vmm_user.h):
// QEMU (qemu_engine.cpp) and the built-in VMM in a child of this process (builtin_engine.cpp).
// Both write the guest's console and their own messages to pipes this process copies into
// capped files (log_pump.h).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/capped_log.h"
#include "common/unique_fd.h"
#include "stage1-kvm/pod_plan.h"

namespace rkt::kvm {

// A network interface of the pod: a tap in the pod's network namespace (opened with
// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and the MAC the guest's NIC carries (the CNI veth's).
struct Nic {
    int tap_fd = -1;  // not owned: the caller keeps it open until the VM has ended
    std::array<uint8_t, 6> mac{};
};

struct VmLaunch {
    stdfs::path pod_dir;     // the VMM's record (vmm_record.h) goes there
    stdfs::path jail_dir;    // an empty directory: the mount point of the VMM's root (vmm/jail.h)
    stdfs::path stage1_dir;  // holds bzImage, vmlinux and guest-init
    stdfs::path initramfs;
    std::string guest_arguments;  // kernel arguments of the pod (quiet, rkt.debug, extra ones)
    VmSize size;
    std::vector<AppDisk> disks;
    std::vector<HostShare> shares;
    std::vector<Nic> nics;    // eth0, eth1, ... in the guest, in this order
    stdfs::path console_log;  // the guest kernel's console (capped, common/capped_log.h)
    stdfs::path engine_log;   // the VMM's own messages, its stderr (capped)
    uint64_t log_limit = kDefaultLogLimit;  // of each of them, before it rotates
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
    // The file in the pod directory that gets the VMM's own messages: qemu.log, vmm.log.
    virtual std::string log_file_name() const { return "vmm.log"; }
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
