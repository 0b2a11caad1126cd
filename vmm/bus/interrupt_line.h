// An edge-triggered interrupt line from a device to the guest. With KVM it is an irqfd; device
// unit tests count the edges instead.
#pragma once

namespace rkt::vmm {

class InterruptLine {
public:
    virtual ~InterruptLine() = default;
    virtual void trigger() = 0;
};

}  // namespace rkt::vmm
