#include "vmm/builder.h"

#include <fcntl.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/arch/x86/cpuid.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/virtio/block.h"
#include "vmm/virtio/console.h"
#include "vmm/virtio/net.h"

namespace rkt::vmm {

BuiltVm build_vm(const VmConfig& config) {
    auto started = Machine::Clock::now();
    validate(config);

    KvmSystem kvm;
    MachineOptions options;
    options.memory_bytes = uint64_t{config.memory_mib} << 20;
    options.vcpu_count = config.vcpus;
    options.timeout = config.timeout;
    SandboxOptions sandbox = config.sandbox;
    sandbox.seccomp = effective_seccomp_mode(sandbox.seccomp);
    options.thread_setup = [sandbox](ThreadRole role) { sandbox_current_thread(role, sandbox); };

    BuiltVm built;
    built.machine = std::make_unique<Machine>(kvm, options, started);
    Machine& m = *built.machine;

    // Legacy devices on port I/O.
    m.pio_bus().insert(
        I8042::kBasePort, I8042::kPortCount,
        std::make_shared<I8042>(m.interrupt_line(x86::kKeyboardGsi), [&m] {
            m.request_stop({VmExitReason::kGuestReset, "the guest reset the machine (i8042)"});
        }));
    auto timer = std::make_shared<BootTimer>(
        [&m](BootTimer::Clock::time_point t) { m.record_boot_signal(t); });
    m.pio_bus().insert(x86::kBootTimerPort, 1, timer);
    m.mmio_bus().insert(x86::kBootTimerMmioAddress, x86::kPageSize, timer);
    if (config.serial)
        m.pio_bus().insert(
            x86::kSerialPort, Serial::kPortCount,
            std::make_shared<Serial>(m.interrupt_line(x86::kSerialGsi), config.serial_output_fd));

    // virtio devices, in the order the guest will number them.
    for (const auto& disk : config.disks) {
        with_context("disk " + disk.path, [&] {
            m.add_virtio_device(std::make_unique<BlockDevice>(
                BlockDiskConfig{disk.path, disk.read_only, disk.serial}));
        });
    }
    if (config.protocol_port_fd >= 0 || config.console_output_fd >= 0) {
        std::vector<ConsolePortConfig> ports;
        if (config.console_output_fd >= 0)
            ports.push_back({"", true, -1, config.console_output_fd});
        if (config.protocol_port_fd >= 0)
            ports.push_back({config.protocol_port_name, false, config.protocol_port_fd, -1});
        m.add_virtio_device(std::make_unique<ConsoleDevice>(ports));
    }
    for (const auto& nic : config.nics) {
        with_context("network interface " + format_mac(nic.mac), [&] {
            m.add_virtio_device(std::make_unique<NetDevice>(nic.tap_fd, nic.mac));
        });
    }

    built.command_line = base_command_line(config);
    for (const auto& slot : m.virtio_slots()) built.command_line += " " + slot.command_line;
    if (!config.command_line_extra.empty()) built.command_line += " " + config.command_line_extra;

    UniqueFd kernel = fs::open_file(config.kernel_path, O_RDONLY);
    UniqueFd initrd;
    if (config.initrd_path) initrd = fs::open_file(*config.initrd_path, O_RDONLY);
    auto boot = x86::prepare_linux_boot(
        m.memory(), {kernel.get(), initrd.valid() ? initrd.get() : -1, built.command_line,
                     config.vcpus, config.boot_protocol});
    built.kernel_format = boot.kernel.format;
    built.entry_mode = boot.entry.mode;

    auto supported = kvm.supported_cpuid();
    bool deadline = kvm.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    for (auto& vcpu : m.vcpus()) {
        auto cpuid = x86::guest_cpuid(supported, {vcpu.id(), config.vcpus, deadline});
        std::vector<uint32_t> refused;
        x86::setup_vcpu_common(vcpu, cpuid, &refused);
        if (vcpu.id() == 0) built.refused_msrs = refused;
    }
    // Only the boot processor starts at the entry; the others wait for INIT/SIPI from it.
    x86::setup_boot_vcpu(m.vcpus()[0], m.memory(), boot.entry);
    return built;
}

VmResult run_vm(const VmConfig& config) {
    BuiltVm built = build_vm(config);
    return built.machine->run();
}

}  // namespace rkt::vmm
