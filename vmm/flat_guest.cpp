#include "vmm/flat_guest.h"

#include "common/error.h"
#include "vmm/arch/x86/cpuid.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/page_tables.h"
#include "vmm/arch/x86/vcpu_setup.h"

namespace rkt::vmm {
namespace {

void point_vcpu(const Vcpu& vcpu, const GuestMemory& memory, uint64_t entry, FlatMode mode,
                uint64_t stack_pointer) {
    if (mode == FlatMode::kLong64) {
        x86::write_gdt(memory, x86::long_mode_gdt());
        vcpu.set_sregs(x86::entry_sregs(vcpu.sregs(), x86::EntryMode::kLinux64));
        kvm_regs regs{};
        regs.rflags = 2;
        regs.rip = entry;
        regs.rsp = stack_pointer;
        vcpu.set_regs(regs);
        return;
    }
    kvm_sregs s = vcpu.sregs();
    for (kvm_segment* seg : {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss}) {
        seg->base = 0;
        seg->selector = 0;
    }
    vcpu.set_sregs(s);
    kvm_regs regs{};
    regs.rflags = 2;
    regs.rip = entry;
    regs.rsp = stack_pointer;
    vcpu.set_regs(regs);
}

}  // namespace

void load_flat_guest(const KvmSystem& kvm, Machine& machine, std::span<const uint8_t> code,
                     uint64_t load_address, FlatMode mode) {
    const GuestMemory& memory = machine.memory();
    if (!memory.write(load_address, code)) throw Error("the guest code does not fit in guest RAM");
    if (mode == FlatMode::kLong64)
        x86::write_identity_page_tables(memory, x86::kMaxIdentityMappedGib);
    auto supported = kvm.supported_cpuid();
    uint32_t count = static_cast<uint32_t>(machine.vcpus().size());
    for (auto& vcpu : machine.vcpus())
        x86::setup_vcpu_common(vcpu, x86::guest_cpuid(supported, {vcpu.id(), count, true}));
    point_vcpu(machine.vcpus()[0], memory, load_address, mode, x86::kBootStackPointer);
}

void start_secondary_vcpu(Machine& machine, size_t index, uint64_t entry, FlatMode mode,
                          uint64_t stack_pointer) {
    Vcpu& vcpu = machine.vcpus().at(index);
    vcpu.set_mp_state(KVM_MP_STATE_RUNNABLE);
    point_vcpu(vcpu, machine.memory(), entry, mode, stack_pointer);
}

}  // namespace rkt::vmm
