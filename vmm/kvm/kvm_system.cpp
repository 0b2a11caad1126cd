#include "vmm/kvm/kvm_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "common/error.h"
#include "vmm/kvm/kvm_abi.h"
#include "vmm/kvm/vm.h"

namespace rkt::vmm {

int kvm_ioctl(int fd, unsigned long request, const void* arg, const char* what) {
    for (;;) {
        int r = ::ioctl(fd, request, arg);
        if (r >= 0) return r;
        if (errno != EINTR) throw system_error(what);
    }
}

KvmSystem::KvmSystem(const std::string& device) {
    int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        std::string hint = err == ENOENT   ? " (this host has no KVM: is virtualisation enabled?)"
                           : err == EACCES ? " (add the user to the group that owns it)"
                                           : "";
        throw Error(system_error("cannot open " + device, err).what() + hint);
    }
    fd_.reset(fd);
    int version = kvm_ioctl(fd, KVM_GET_API_VERSION, 0ul, "KVM_GET_API_VERSION");
    if (version != KVM_API_VERSION)
        throw Error(device + " speaks KVM API version " + std::to_string(version) + ", expected " +
                    std::to_string(KVM_API_VERSION));
}

int KvmSystem::check_extension(int capability) const {
    int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
    return r < 0 ? 0 : r;
}

const std::vector<RequiredCapability>& KvmSystem::vmm_requirements() {
    static const std::vector<RequiredCapability> caps = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM"},
        {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "the in-kernel interrupt controllers"},
        {KVM_CAP_PIT2, "KVM_CAP_PIT2", "the in-kernel timer"},
        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "the real-mode TSS area"},
        {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "virtio queue notifications"},
        {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "device interrupts"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "the guest's CPUID table"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs without races"},
    };
    return caps;
}

void KvmSystem::require(const std::vector<RequiredCapability>& capabilities) const {
    for (const auto& c : capabilities) {
        if (check_extension(c.capability) <= 0)
            throw Error(std::string("this host's KVM lacks ") + c.name + ", needed for " +
                        c.purpose);
    }
}

int KvmSystem::vcpu_mmap_size() const {
    return kvm_ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0ul, "KVM_GET_VCPU_MMAP_SIZE");
}

int KvmSystem::max_vcpus() const {
    int n = check_extension(KVM_CAP_MAX_VCPUS);
    if (n <= 0) n = check_extension(KVM_CAP_NR_VCPUS);
    return n > 0 ? n : 4;  // KVM's documented default when neither is reported
}

std::vector<kvm_cpuid_entry2> KvmSystem::supported_cpuid() const {
    // The list grows with CPU generations; retry with more room on E2BIG.
    for (size_t count = 128; count <= 4096; count *= 2) {
        size_t bytes = sizeof(abi::Cpuid2Header) + count * sizeof(kvm_cpuid_entry2);
        auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
        auto* header = reinterpret_cast<abi::Cpuid2Header*>(storage.get());
        auto* entries = reinterpret_cast<kvm_cpuid_entry2*>(header + 1);
        header->nent = static_cast<uint32_t>(count);
        if (::ioctl(fd_.get(), abi::kGetSupportedCpuid, header) == 0)
            return {entries, entries + std::min<size_t>(header->nent, count)};
        if (errno != E2BIG) throw system_error("KVM_GET_SUPPORTED_CPUID");
    }
    throw Error("KVM_GET_SUPPORTED_CPUID: the list is unreasonably long");
}

Vm KvmSystem::create_vm() const {
    int fd = kvm_ioctl(fd_.get(), KVM_CREATE_VM, 0ul, "KVM_CREATE_VM");
    return Vm(UniqueFd(fd), vcpu_mmap_size());
}

}  // namespace rkt::vmm
