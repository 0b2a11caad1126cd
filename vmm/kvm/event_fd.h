// A non-blocking eventfd: the doorbell between a guest (ioeventfd), KVM (irqfd) and the event
// thread. Movable, closed exactly once.
#pragma once

#include <cstdint>
#include <optional>

#include "common/unique_fd.h"

namespace rkt::vmm {

class EventFd {
public:
    // Creates a non-blocking, close-on-exec eventfd with counter 0.
    EventFd();

    int fd() const { return fd_.get(); }
    // Adds `value` to the counter (wakes readers). Never blocks; a full counter is not an error.
    void signal(uint64_t value = 1) const;
    // Reads and clears the counter; nullopt when it was 0.
    std::optional<uint64_t> consume() const;

private:
    UniqueFd fd_;
};

}  // namespace rkt::vmm
