// /dev/kvm: the API version check, capability queries and the host-wide lists (supported CPUID)
// every VM of this process is built from.
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace rkt::vmm {

class Vm;

// A capability the VMM cannot work without, and why it needs it (for the error message).
struct RequiredCapability {
    int capability;
    const char* name;
    const char* purpose;
};

class KvmSystem {
public:
    // Opens `device` (normally /dev/kvm) and checks the API version.
    explicit KvmSystem(const std::string& device = "/dev/kvm");

    int fd() const { return fd_.get(); }
    // KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value.
    int check_extension(int capability) const;
    // Throws an Error naming the first missing capability and what it is needed for.
    void require(const std::vector<RequiredCapability>& capabilities) const;
    // The capabilities the built-in VMM relies on.
    static const std::vector<RequiredCapability>& vmm_requirements();

    int vcpu_mmap_size() const;
    int max_vcpus() const;
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;

    Vm create_vm() const;

private:
    UniqueFd fd_;
};

// ioctl() that throws "<what>: <strerror>" on failure; retries EINTR.
int kvm_ioctl(int fd, unsigned long request, const void* arg, const char* what);
// For the ioctls whose argument is a number, not a pointer (the kernel takes either in one slot).
inline int kvm_ioctl(int fd, unsigned long request, unsigned long arg, const char* what) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the number is passed through, never dereferenced
    return kvm_ioctl(fd, request, reinterpret_cast<const void*>(arg), what);
}

}  // namespace rkt::vmm
