#include "vmm/kvm/vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "common/error.h"
#include "common/strings.h"
#include "vmm/kvm/kvm_abi.h"
#include "vmm/kvm/kvm_system.h"

namespace rkt::vmm {

Vcpu::Vcpu(UniqueFd fd, uint32_t id, size_t run_mmap_size)
    : fd_(std::move(fd)), id_(id), run_size_(run_mmap_size) {
    void* p = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED)
        throw system_error("cannot map the kvm_run area of vCPU " + std::to_string(id));
    run_ = static_cast<kvm_run*>(p);
}

Vcpu::Vcpu(Vcpu&& other) noexcept
    : fd_(std::move(other.fd_)),
      id_(other.id_),
      run_(std::exchange(other.run_, nullptr)),
      run_size_(other.run_size_) {}

Vcpu::~Vcpu() {
    if (run_) ::munmap(run_, run_size_);
}

int Vcpu::run() const {
    if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return 0;
    int err = errno;
    if (err == EINTR || err == EAGAIN) return -err;
    throw system_error("KVM_RUN on vCPU " + std::to_string(id_), err);
}

kvm_regs Vcpu::regs() const {
    kvm_regs r{};
    kvm_ioctl(fd_.get(), KVM_GET_REGS, &r, "KVM_GET_REGS");
    return r;
}

void Vcpu::set_regs(const kvm_regs& regs) const {
    kvm_ioctl(fd_.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

kvm_sregs Vcpu::sregs() const {
    kvm_sregs s{};
    kvm_ioctl(fd_.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS");
    return s;
}

void Vcpu::set_sregs(const kvm_sregs& sregs) const {
    kvm_ioctl(fd_.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
}

void Vcpu::set_fpu(const kvm_fpu& fpu) const {
    kvm_ioctl(fd_.get(), KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) const {
    size_t bytes = sizeof(abi::Cpuid2Header) + entries.size() * sizeof(kvm_cpuid_entry2);
    auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* header = reinterpret_cast<abi::Cpuid2Header*>(storage.get());
    header->nent = static_cast<uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), reinterpret_cast<kvm_cpuid_entry2*>(header + 1));
    kvm_ioctl(fd_.get(), abi::kSetCpuid2, header, "KVM_SET_CPUID2");
}

void Vcpu::set_msrs(const std::vector<kvm_msr_entry>& entries) const {
    size_t bytes = sizeof(abi::MsrsHeader) + entries.size() * sizeof(kvm_msr_entry);
    auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* header = reinterpret_cast<abi::MsrsHeader*>(storage.get());
    header->nmsrs = static_cast<uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), reinterpret_cast<kvm_msr_entry*>(header + 1));
    int written = kvm_ioctl(fd_.get(), abi::kSetMsrs, header, "KVM_SET_MSRS");
    if (written != static_cast<int>(entries.size()))
        throw Error("KVM_SET_MSRS: the host refused MSR " +
                    strings::hex(entries[static_cast<size_t>(written)].index));
}

kvm_lapic_state Vcpu::lapic() const {
    kvm_lapic_state s{};
    kvm_ioctl(fd_.get(), KVM_GET_LAPIC, &s, "KVM_GET_LAPIC");
    return s;
}

void Vcpu::set_lapic(const kvm_lapic_state& state) const {
    kvm_ioctl(fd_.get(), KVM_SET_LAPIC, &state, "KVM_SET_LAPIC");
}

void Vcpu::set_mp_state(uint32_t state) const {
    kvm_mp_state mp{};
    mp.mp_state = state;
    kvm_ioctl(fd_.get(), KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
}

}  // namespace rkt::vmm
