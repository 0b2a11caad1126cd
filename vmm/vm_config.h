// Everything the built-in VMM needs to boot one Linux guest. Filled by the caller (the kvm
// stage1, rkt-vmm), checked by validate(), and never changed once the VM is built.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/arch/x86/linux_boot.h"
#include "vmm/sandbox.h"

namespace rkt::vmm {

struct DiskConfig {
    std::string path;
    bool read_only = true;
    std::string serial;  // what the guest reads from /sys/block/vdX/serial; default: file name
};

// One virtio-net device. The tap should be opened with IFF_VNET_HDR: then the guest gets the
// tap's offloads (vmm/virtio/net.h); without it, none.
struct NicConfig {
    int tap_fd = -1;  // not owned
    std::array<uint8_t, 6> mac{};
};

struct VmConfig {
    std::string kernel_path;                 // vmlinux (ELF) or bzImage
    std::optional<std::string> initrd_path;  // guest-init's initramfs
    std::string command_line_extra;          // appended to the VMM's own kernel arguments
    uint32_t memory_mib = 128;
    uint32_t vcpus = 1;
    std::vector<DiskConfig> disks;  // /dev/vda, /dev/vdb, ... in this order

    // The guest protocol channel: a virtio-console port named `protocol_port_name`
    // (/dev/vport0pN in the guest, name in /sys/class/virtio-ports/*/name). Not owned; the
    // VMM duplicates it and makes it non-blocking. -1: none.
    int protocol_port_fd = -1;
    // The guest protocol's port name (common/guest_protocol.h: guest::kPortName).
    std::string protocol_port_name = "org.rkt.guest.0";
    // The guest kernel's console on virtio (hvc0), written to this fd (not owned). -1: none.
    int console_output_fd = -1;
    // A 16550 serial console (ttyS0) at 0x3f8 written to this fd. Off by default: each byte
    // the guest prints costs an exit.
    bool serial = false;
    int serial_output_fd = 1;

    std::vector<NicConfig> nics;  // eth0, eth1, ... in this order

    x86::BootProtocol boot_protocol = x86::BootProtocol::kAuto;
    SandboxOptions sandbox;
    std::optional<std::chrono::milliseconds> timeout;
};

// "aa:bb:cc:dd:ee:ff", and back (nullopt for anything else).
std::string format_mac(const std::array<uint8_t, 6>& mac);
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text);

// Throws an Error saying what is wrong and how to fix it.
void validate(const VmConfig& config);

// The kernel command line the VMM gives the guest (before the virtio-mmio device entries).
std::string base_command_line(const VmConfig& config);

}  // namespace rkt::vmm
