// The one place a VmConfig becomes a VM: validate, create the machine and its devices, load the
// guest, configure the vCPUs. The caller runs the result (and may stop it from another thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vmm/machine.h"
#include "vmm/vm_config.h"

namespace rkt::vmm {

struct BuiltVm {
    std::unique_ptr<Machine> machine;
    std::string command_line;  // as the guest kernel got it
    x86::KernelFormat kernel_format;
    x86::EntryMode entry_mode;
    std::vector<uint32_t> refused_msrs;  // boot MSRs this host's KVM would not take
};

BuiltVm build_vm(const VmConfig& config);

// build_vm + run: the whole life of a VM.
VmResult run_vm(const VmConfig& config);

}  // namespace rkt::vmm
