#include "vmm/vm_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm {
namespace {

constexpr uint32_t kMinMemoryMib = 32;
constexpr uint32_t kMaxMemoryMib = 1u << 20;  // 1 TiB
constexpr size_t kMaxDisks = 16;
constexpr size_t kMaxNics = 8;

void require_file(const std::string& what, const std::string& path) {
    struct stat st {};
    if (path.empty()) throw Error(what + " path is empty");
    if (::stat(path.c_str(), &st) != 0) throw system_error(what + " " + path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        throw Error(what + " " + path + " is not a regular file");
}

void require_fd(const std::string& what, int fd) {
    if (fd >= 0 && ::fcntl(fd, F_GETFD) < 0) throw system_error(what + " fd " + std::to_string(fd));
}

}  // namespace

std::string format_mac(const std::array<uint8_t, 6>& mac) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < mac.size(); ++i) {
        if (i) out += ':';
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 15];
    }
    return out;
}

std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
    std::array<uint8_t, 6> mac{};
    if (text.size() != 17) return std::nullopt;
    auto nibble = [](char ch) -> int {
        if (ch >= '0' && ch <= '9') return ch - '0';
        if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < 6; ++i) {
        int hi = nibble(text[3 * i]), lo = nibble(text[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return std::nullopt;
        mac[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return mac;
}

void validate(const VmConfig& c) {
    require_file("guest kernel", c.kernel_path);
    if (c.initrd_path) require_file("initrd", *c.initrd_path);
    if (c.memory_mib < kMinMemoryMib || c.memory_mib > kMaxMemoryMib)
        throw Error("guest memory must be between " + std::to_string(kMinMemoryMib) + " MiB and " +
                    std::to_string(kMaxMemoryMib) + " MiB, not " + std::to_string(c.memory_mib));
    if (c.vcpus == 0 || c.vcpus > x86::kMaxVcpus)
        throw Error("a VM has 1 to " + std::to_string(x86::kMaxVcpus) + " vCPUs, not " +
                    std::to_string(c.vcpus));
    if (c.disks.size() > kMaxDisks)
        throw Error("at most " + std::to_string(kMaxDisks) + " disks per VM");
    for (const auto& d : c.disks) require_file("disk", d.path);
    size_t devices = c.disks.size() + c.nics.size() +
                     (c.protocol_port_fd >= 0 || c.console_output_fd >= 0 ? 1 : 0);
    if (devices > x86::kLastGsi - x86::kFirstDeviceGsi + 1)
        throw Error("too many devices for one VM (" + std::to_string(devices) + ")");
    require_fd("protocol port", c.protocol_port_fd);
    require_fd("console output", c.console_output_fd);
    if (c.serial) require_fd("serial output", c.serial_output_fd);
    if (c.nics.size() > kMaxNics)
        throw Error("at most " + std::to_string(kMaxNics) + " network interfaces per VM");
    for (size_t i = 0; i < c.nics.size(); ++i) {
        const NicConfig& n = c.nics[i];
        if (n.tap_fd < 0) throw Error("network interface " + std::to_string(i) + " has no tap fd");
        require_fd("tap", n.tap_fd);
        // The guest would drop or mishandle frames for a multicast or all-zero address.
        if ((n.mac[0] & 1) || n.mac == std::array<uint8_t, 6>{})
            throw Error("network interface " + std::to_string(i) + " needs a unicast MAC, not " +
                        format_mac(n.mac));
        for (size_t j = 0; j < i; ++j)
            if (c.nics[j].mac == n.mac)
                throw Error("two network interfaces have the MAC " + format_mac(n.mac));
    }
    if (c.protocol_port_fd >= 0 && c.protocol_port_name.empty())
        throw Error("the protocol port needs a name");
    for (char ch : c.command_line_extra)
        if (ch == '\0' || ch == '\n') throw Error("the kernel command line has a NUL or newline");
}

std::string base_command_line(const VmConfig& c) {
    // Firecracker's boot-speed arguments: reboot through the keyboard controller (which ends
    // the VM), quick i8042 probing, no bounce buffers, no crypto self-tests. No pci=off: the
    // guest kernel has no PCI, and an argument it does not know is handed to init.
    std::string line =
        "reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
        "swiotlb=noforce cryptomgr.notests random.trust_cpu=on";
    // One UART at most: probing the three absent ones costs exits.
    line += c.serial ? " console=ttyS0 8250.nr_uarts=1" : " 8250.nr_uarts=0";
    if (c.console_output_fd >= 0) line += " console=hvc0";
    return line;
}

}  // namespace rkt::vmm
