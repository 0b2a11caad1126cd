#include "vmm/kvm/vm.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "common/error.h"
#include "vmm/kvm/kvm_system.h"

namespace rkt::vmm {

int Vm::check_extension(int capability) const {
    int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
    return r < 0 ? 0 : r;
}

void Vm::set_tss_address(uint64_t address) const {
    kvm_ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address), "KVM_SET_TSS_ADDR");
}

void Vm::set_identity_map_address(uint64_t address) const {
    kvm_ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &address, "KVM_SET_IDENTITY_MAP_ADDR");
}

void Vm::create_irqchip() const {
    kvm_ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0ul, "KVM_CREATE_IRQCHIP");
}

void Vm::create_pit2() const {
    kvm_pit_config config{};
    // The speaker port (0x61) is then answered in the kernel instead of exiting to us.
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    kvm_ioctl(fd_.get(), KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2");
}

void Vm::map_memory(const GuestMemory& memory) const {
    uint32_t slot = 0;
    for (const auto& r : memory.regions()) {
        kvm_userspace_memory_region region{};
        region.slot = slot++;
        region.guest_phys_addr = r.guest_address;
        region.memory_size = r.size;
        region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
        kvm_ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    }
}

void Vm::register_ioeventfd(const EventFd& event, IoSpace space, uint64_t address, uint32_t length,
                            std::optional<uint64_t> datamatch) const {
    kvm_ioeventfd io{};
    io.addr = address;
    io.len = length;
    io.fd = event.fd();
    if (space == IoSpace::kPio) io.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (datamatch) {
        io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        io.datamatch = *datamatch;
    }
    kvm_ioctl(fd_.get(), KVM_IOEVENTFD, &io, "KVM_IOEVENTFD");
}

void Vm::register_irqfd(const EventFd& event, uint32_t gsi) const {
    kvm_irqfd irq{};
    irq.fd = static_cast<uint32_t>(event.fd());
    irq.gsi = gsi;
    kvm_ioctl(fd_.get(), KVM_IRQFD, &irq, "KVM_IRQFD");
}

void Vm::set_irq_line(uint32_t gsi, bool level) const {
    kvm_irq_level irq{};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    kvm_ioctl(fd_.get(), KVM_IRQ_LINE, &irq, "KVM_IRQ_LINE");
}

Vcpu Vm::create_vcpu(uint32_t id) const {
    int fd =
        kvm_ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id), "KVM_CREATE_VCPU");
    return Vcpu(UniqueFd(fd), id, static_cast<size_t>(vcpu_mmap_size_));
}

}  // namespace rkt::vmm
