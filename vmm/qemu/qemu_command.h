// The QEMU engine's command line: everything a kvm pod's VM is made of (kernel, initramfs, one
// read-only virtio-blk disk per app image, virtio-9p shares, the guest protocol's port) as the
// arguments of `qemu-system-x86_64 -M microvm`. Pure: no process is started here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace rkt::vmm::qemu {

enum class Accel { kKvm, kTcg };

struct QemuDisk {
    std::string path;
    std::string serial;  // what the guest reads from /sys/block/vdX/serial
    bool read_only = true;
};

struct QemuShare {  // a host directory exported over virtio-9p
    std::string tag;
    std::string path;
    bool read_only = false;
};

// A virtio-net device on a tap QEMU inherits (opened with IFF_VNET_HDR, QEMU then uses its
// offloads), with the guest's MAC.
struct QemuNic {
    int tap_fd = -1;  // as QEMU has it
    std::array<uint8_t, 6> mac{};
};

// A descriptor QEMU takes into an fd set (-add-fd): a path /dev/fdset/<set> then opens a copy
// of it, so QEMU needs no access to the file's path.
struct QemuFdSet {
    int fd = -1;  // as QEMU has it
    int set = 0;
};

struct QemuVmSpec {
    std::string binary = "qemu-system-x86_64";
    Accel accel = Accel::kTcg;
    std::string kernel;  // bzImage
    std::string initrd;
    std::string command_line;  // the kernel's, in full
    uint32_t memory_mib = 128;
    uint32_t vcpus = 1;
    std::vector<QemuDisk> disks;
    std::vector<QemuShare> shares;
    std::vector<QemuNic> nics;  // eth0, eth1, ... in this order
    // The guest protocol's port: QEMU's end of a connected unix socket, inherited by QEMU.
    int protocol_fd = -1;
    std::string port_name = "org.rkt.guest.0";
    // The guest's serial console (ttyS0) goes to this file; empty: nowhere.
    std::string console_path;
    // Instead: the console goes to QEMU's stdout (a pipe the stage1 reads and caps).
    bool console_on_stdout = false;
    std::vector<QemuFdSet> fd_sets;
    // QEMU's own seccomp filter: -sandbox on with every group it has denied (obsolete calls,
    // privilege changes, spawning processes, resource control).
    bool sandbox = false;
};

// The argv of QEMU (argv[0] = spec.binary). Throws rkt::Error for a spec QEMU cannot express
// (no kernel, a tag or serial with characters QEMU's option syntax cannot carry, a NIC without
// a tap or with a MAC that is not unicast, or two with one MAC).
std::vector<std::string> qemu_argv(const QemuVmSpec& spec);

// A value for QEMU's "key=value,key=value" option syntax: commas are doubled.
std::string escape_option_value(const std::string& value);

// The kernel arguments the QEMU engine needs on top of the guest's own (serial console,
// reboot by triple fault, no APIC timer calibration under TCG).
std::string engine_kernel_arguments(Accel accel);

}  // namespace rkt::vmm::qemu
