#include "vmm/qemu/qemu_command.h"

#include <algorithm>

#include "common/error.h"
#include "vmm/vm_config.h"

namespace rkt::vmm::qemu {

namespace {

// Tags and serials go into option values unescaped by QEMU's own rules for some devices: keep
// them to characters that need no escaping at all.
bool is_plain_token(const std::string& s, size_t max) {
    if (s.empty() || s.size() > max) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

void check_path(const std::string& what, const std::string& path) {
    if (path.empty()) throw Error("QEMU engine: no " + what + " given");
    if (path.find('\0') != std::string::npos || path.find('\n') != std::string::npos)
        throw Error("QEMU engine: the " + what + " path contains a NUL or newline: " + path);
}

}  // namespace

std::string escape_option_value(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        out.push_back(c);
        if (c == ',') out.push_back(',');
    }
    return out;
}

std::string engine_kernel_arguments(Accel accel) {
    // reboot=t: guest-init's reboot becomes a triple fault, which -no-reboot turns into QEMU's
    // exit (microvm has no keyboard controller). noapictimer: under TCG the kernel spends about
    // 250 ms calibrating the local APIC timer and then rejects it anyway.
    std::string args = "console=ttyS0 reboot=t panic=-1 no_timer_check";
    if (accel == Accel::kTcg) args += " noapictimer";
    return args;
}

std::vector<std::string> qemu_argv(const QemuVmSpec& spec) {
    check_path("kernel", spec.kernel);
    check_path("initramfs", spec.initrd);
    if (spec.command_line.find('\n') != std::string::npos)
        throw Error("QEMU engine: the kernel command line contains a newline");
    if (spec.memory_mib < 32) throw Error("QEMU engine: at least 32 MiB of memory are needed");
    if (spec.vcpus < 1 || spec.vcpus > 255) throw Error("QEMU engine: 1..255 vCPUs");
    if (spec.protocol_fd < 0) throw Error("QEMU engine: no protocol channel");
    if (!is_plain_token(spec.port_name, 64))
        throw Error("QEMU engine: bad port name \"" + spec.port_name + "\"");

    std::vector<std::string> a = {spec.binary};
    // acpi=off: only then does QEMU put the virtio-mmio devices on the kernel command line (the
    // guest kernel has no ACPI to find them otherwise).
    a.insert(a.end(), {"-M", "microvm,acpi=off"});
    // Guest memory is never part of a core dump of QEMU.
    a.insert(a.end(), {"-machine", "dump-guest-core=off"});
    if (spec.sandbox)
        a.insert(a.end(), {"-sandbox",
                           "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                           "resourcecontrol=deny"});
    for (const QemuFdSet& f : spec.fd_sets) {
        if (f.fd < 0 || f.set < 0) throw Error("QEMU engine: bad fd set");
        a.insert(a.end(),
                 {"-add-fd", "fd=" + std::to_string(f.fd) + ",set=" + std::to_string(f.set)});
    }
    if (spec.accel == Accel::kKvm)
        a.insert(a.end(), {"-accel", "kvm", "-cpu", "host"});
    else
        a.insert(a.end(), {"-accel", "tcg", "-cpu", "max"});
    a.insert(a.end(), {"-m", std::to_string(spec.memory_mib), "-smp", std::to_string(spec.vcpus)});
    // No default devices, no config files, no monitor or display: only what is listed here.
    a.insert(a.end(), {"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
                       "-monitor", "none"});
    if (spec.console_on_stdout) {
        // signal=off: a ^C in the console's bytes is data, not a signal to QEMU.
        a.insert(a.end(),
                 {"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"});
    } else if (spec.console_path.empty()) {
        a.insert(a.end(), {"-serial", "none"});
    } else {
        check_path("console log", spec.console_path);
        a.insert(a.end(),
                 {"-chardev", "file,id=console,path=" + escape_option_value(spec.console_path),
                  "-serial", "chardev:console"});
    }
    a.insert(a.end(),
             {"-kernel", spec.kernel, "-initrd", spec.initrd, "-append", spec.command_line});
    for (size_t i = 0; i < spec.disks.size(); ++i) {
        const QemuDisk& d = spec.disks[i];
        check_path("disk", d.path);
        if (!is_plain_token(d.serial, 20))
            throw Error("QEMU engine: disk serial \"" + d.serial +
                        "\" must be 1..20 letters, digits, '-', '_' or '.'");
        std::string id = "disk" + std::to_string(i);
        a.insert(a.end(),
                 {"-drive", "id=" + id + ",file=" + escape_option_value(d.path) +
                                ",format=raw,if=none" + (d.read_only ? ",readonly=on" : "")});
        a.insert(a.end(), {"-device", "virtio-blk-device,drive=" + id + ",serial=" + d.serial});
    }
    for (size_t i = 0; i < spec.shares.size(); ++i) {
        const QemuShare& s = spec.shares[i];
        check_path("shared directory", s.path);
        if (!is_plain_token(s.tag, 31))
            throw Error("QEMU engine: 9p tag \"" + s.tag +
                        "\" must be 1..31 letters, digits, '-', '_' or '.'");
        std::string id = "fs" + std::to_string(i);
        // passthrough: files keep the owners and modes the guest gives them. What keeps that
        // from making setuid-root files or device nodes on the host is the jail QEMU runs in
        // (vmm/qemu/qemu_process.h): no CAP_FSETID, CAP_MKNOD or CAP_SETFCAP, and rkt's seccomp
        // filter refusing setuid/setgid modes and device nodes. multidevs=remap keeps inode
        // numbers unique across host file systems.
        a.insert(a.end(), {"-fsdev", "local,id=" + id + ",path=" + escape_option_value(s.path) +
                                         ",security_model=passthrough,multidevs=remap" +
                                         (s.read_only ? ",readonly=on" : "")});
        a.insert(a.end(), {"-device", "virtio-9p-device,fsdev=" + id + ",mount_tag=" + s.tag});
    }
    for (size_t i = 0; i < spec.nics.size(); ++i) {
        const QemuNic& n = spec.nics[i];
        if (n.tap_fd < 0)
            throw Error("QEMU engine: network interface " + std::to_string(i) + " has no tap");
        if ((n.mac[0] & 1) || n.mac == std::array<uint8_t, 6>{})
            throw Error("QEMU engine: network interface " + std::to_string(i) +
                        " needs a unicast MAC, not " + format_mac(n.mac));
        for (size_t j = 0; j < i; ++j)
            if (spec.nics[j].mac == n.mac)
                throw Error("QEMU engine: two network interfaces have the MAC " +
                            format_mac(n.mac));
        std::string id = "net" + std::to_string(i);
        // vhost=off: vhost-net would need /dev/vhost-net in the jail and a kernel thread
        // outside it; QEMU serves the tap itself.
        a.insert(a.end(),
                 {"-netdev", "tap,id=" + id + ",fd=" + std::to_string(n.tap_fd) + ",vhost=off",
                  "-device", "virtio-net-device,netdev=" + id + ",mac=" + format_mac(n.mac)});
    }
    a.insert(a.end(), {"-chardev", "socket,id=proto,fd=" + std::to_string(spec.protocol_fd),
                       "-device", "virtio-serial-device", "-device",
                       "virtserialport,chardev=proto,name=" + spec.port_name});
    return a;
}

}  // namespace rkt::vmm::qemu
