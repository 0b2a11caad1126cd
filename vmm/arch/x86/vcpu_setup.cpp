#include "vmm/arch/x86/vcpu_setup.h"

#include <cerrno>
#include <memory>

#include <sys/ioctl.h>

#include "common/error.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm::x86 {
namespace {

constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176,
                   kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083,
                   kMsrSyscallMask = 0xc0000084, kMsrKernelGsBase = 0xc0000102, kMsrTsc = 0x10,
                   kMsrMiscEnable = 0x1a0, kMsrMtrrDefType = 0x2ff;
constexpr uint64_t kMiscEnableFastStrings = 1;
constexpr uint64_t kMtrrEnableWriteBack = 0x806;  // MTRRs on, default type write-back

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Et = 1ull << 4, kCr0Nw = 1ull << 29, kCr0Cd = 1ull << 30,
                   kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

constexpr size_t kApicLvtLint0 = 0x350, kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7, kDeliveryNmi = 4;

uint32_t lapic_get(const kvm_lapic_state& s, size_t reg) {
    uint32_t v;
    std::memcpy(&v, s.regs + reg, 4);
    return v;
}
void lapic_set(kvm_lapic_state& s, size_t reg, uint32_t v) {
    std::memcpy(s.regs + reg, &v, 4);
}
uint32_t with_delivery_mode(uint32_t lvt, uint32_t mode) {
    return (lvt & ~0x700u) | (mode << 8);
}

}  // namespace

std::vector<kvm_msr_entry> boot_msrs() {
    auto e = [](uint32_t index, uint64_t data) {
        kvm_msr_entry m{};
        m.index = index;
        m.data = data;
        return m;
    };
    return {e(kMsrSysenterCs, 0),
            e(kMsrSysenterEsp, 0),
            e(kMsrSysenterEip, 0),
            e(kMsrStar, 0),
            e(kMsrCstar, 0),
            e(kMsrKernelGsBase, 0),
            e(kMsrSyscallMask, 0),
            e(kMsrLstar, 0),
            e(kMsrTsc, 0),
            e(kMsrMiscEnable, kMiscEnableFastStrings),
            e(kMsrMtrrDefType, kMtrrEnableWriteBack)};
}

kvm_lapic_state with_lint_pins(kvm_lapic_state state) {
    lapic_set(state, kApicLvtLint0,
              with_delivery_mode(lapic_get(state, kApicLvtLint0), kDeliveryExtInt));
    lapic_set(state, kApicLvtLint1,
              with_delivery_mode(lapic_get(state, kApicLvtLint1), kDeliveryNmi));
    return state;
}

void setup_vcpu_common(const Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid,
                       std::vector<uint32_t>* refused_msrs) {
    vcpu.set_cpuid(cpuid);
    // KVM_SET_MSRS stops at the first MSR it refuses: set them one at a time so one refusal
    // (PVM rejects some) does not leave the rest unset.
    for (const auto& msr : boot_msrs()) {
        try {
            vcpu.set_msrs({msr});
        } catch (const Error&) {
            if (refused_msrs) refused_msrs->push_back(msr.index);
        }
    }
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    vcpu.set_fpu(fpu);
    vcpu.set_lapic(with_lint_pins(vcpu.lapic()));
}

void write_gdt(const GuestMemory& memory, const BootGdt& gdt) {
    uint64_t empty_idt = 0;
    if (!memory.write_obj(kGdtAddress, gdt.entries) || !memory.write_obj(kIdtAddress, empty_idt))
        throw Error("guest memory is too small for the boot GDT");
}

kvm_sregs entry_sregs(kvm_sregs s, EntryMode mode) {
    BootGdt gdt = mode == EntryMode::kLinux64 ? long_mode_gdt() : protected_mode_gdt();
    s.cs = gdt.code();
    s.ds = s.es = s.fs = s.gs = s.ss = gdt.data();
    s.tr = gdt.tss();
    s.gdt.base = kGdtAddress;
    s.gdt.limit = static_cast<uint16_t>(sizeof(gdt.entries) - 1);
    s.idt.base = kIdtAddress;
    s.idt.limit = 7;
    s.cr0 = (s.cr0 & ~(kCr0Cd | kCr0Nw)) | kCr0Pe | kCr0Et;
    if (mode == EntryMode::kLinux64) {
        s.cr0 |= kCr0Pg;
        s.cr3 = kPml4Address;
        s.cr4 |= kCr4Pae;
        s.efer |= kEferLme | kEferLma;
    } else {
        s.cr0 &= ~kCr0Pg;
        s.cr3 = 0;
        s.cr4 = 0;
        s.efer = 0;
    }
    return s;
}

kvm_regs entry_regs(const BootEntry& entry) {
    kvm_regs r{};
    r.rflags = 0x2;
    r.rip = entry.rip;
    if (entry.mode == EntryMode::kLinux64) {
        r.rsp = r.rbp = kBootStackPointer;
        r.rsi = entry.boot_info;
    } else {
        r.rbx = entry.boot_info;
    }
    return r;
}

void setup_boot_vcpu(const Vcpu& vcpu, const GuestMemory& memory, const BootEntry& entry) {
    write_gdt(memory, entry.mode == EntryMode::kLinux64 ? long_mode_gdt() : protected_mode_gdt());
    vcpu.set_sregs(entry_sregs(vcpu.sregs(), entry.mode));
    vcpu.set_regs(entry_regs(entry));
}

}  // namespace rkt::vmm::x86
