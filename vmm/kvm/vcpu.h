// A KVM vCPU: its fd, the shared kvm_run page, and the register/state ioctls the boot path uses.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/unique_fd.h"

namespace rkt::vmm {

class Vcpu {
public:
    Vcpu(UniqueFd fd, uint32_t id, size_t run_mmap_size);
    Vcpu(Vcpu&& other) noexcept;
    Vcpu& operator=(Vcpu&&) = delete;
    Vcpu(const Vcpu&) = delete;
    ~Vcpu();

    uint32_t id() const { return id_; }
    int fd() const { return fd_.get(); }
    kvm_run* run_state() const { return run_; }
    // The whole shared mapping: the kvm_run, then the data its port I/O exits point into.
    std::span<uint8_t> run_area() const { return {reinterpret_cast<uint8_t*>(run_), run_size_}; }

    // KVM_RUN once. Returns 0, or -errno for EINTR/EAGAIN (a kick); throws on other errors.
    int run() const;

    kvm_regs regs() const;
    void set_regs(const kvm_regs& regs) const;
    kvm_sregs sregs() const;
    void set_sregs(const kvm_sregs& sregs) const;
    void set_fpu(const kvm_fpu& fpu) const;
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) const;
    void set_msrs(const std::vector<kvm_msr_entry>& entries) const;
    kvm_lapic_state lapic() const;
    void set_lapic(const kvm_lapic_state& state) const;
    void set_mp_state(uint32_t state) const;

private:
    UniqueFd fd_;
    uint32_t id_;
    kvm_run* run_ = nullptr;
    size_t run_size_ = 0;
};

}  // namespace rkt::vmm
