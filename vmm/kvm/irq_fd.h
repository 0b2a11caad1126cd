// An InterruptLine backed by an irqfd: signalling it raises the GSI in the in-kernel irqchip
// without a system call into KVM's ioctl path.
#pragma once

#include <cstdint>

#include "vmm/bus/interrupt_line.h"
#include "vmm/kvm/event_fd.h"
#include "vmm/kvm/vm.h"

namespace rkt::vmm {

class IrqFdLine : public InterruptLine {
public:
    IrqFdLine(const Vm& vm, uint32_t gsi) : gsi_(gsi) { vm.register_irqfd(event_, gsi); }
    void trigger() override { event_.signal(); }
    uint32_t gsi() const { return gsi_; }

private:
    EventFd event_;
    uint32_t gsi_;
};

}  // namespace rkt::vmm
