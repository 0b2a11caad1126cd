// Which accelerator the QEMU engine uses: KVM when this host's KVM can run an unmodified Linux
// guest and QEMU can start a vCPU on it, else TCG (software emulation), with the reason in one
// line. Cheap and cached per boot, like the built-in engine's probe (vmm/probe.h).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "vmm/probe.h"
#include "vmm/qemu/qemu_command.h"

namespace rkt::vmm::qemu {

struct AccelChoice {
    Accel accel = Accel::kTcg;
    std::string reason;  // why TCG (empty for KVM)
};

struct AccelOptions {
    std::string qemu_binary = "qemu-system-x86_64";
    std::string kvm_device = "/dev/kvm";
    // Where the answer is cached (keyed by boot, kernel and QEMU binary); nullopt: no cache.
    std::optional<std::filesystem::path> cache_dir = std::filesystem::path("/run/rkt");
    // The host's answer to "can KVM run an unmodified Linux guest" (probe_builtin_engine()).
    EngineProbe host_kvm;
};

AccelChoice choose_accel(const AccelOptions& options);

// Starts QEMU with -accel kvm on a 16-byte firmware that writes to an isa-debug-exit port at
// once; true when QEMU ends with that port's status (a vCPU ran). Fills `error` with QEMU's last
// line otherwise (e.g. "failed to set MSR 0x10a").
bool qemu_kvm_starts(const std::string& qemu_binary, std::string& error);

}  // namespace rkt::vmm::qemu
