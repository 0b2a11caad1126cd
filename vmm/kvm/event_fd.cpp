#include "vmm/kvm/event_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/io.h"

namespace rkt::vmm {

EventFd::EventFd() : fd_(check_sys(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")) {}

void EventFd::signal(uint64_t value) const {
    for (;;) {
        ssize_t n = io::retry_eintr([&] { return ::write(fd_.get(), &value, sizeof value); });
        if (n == static_cast<ssize_t>(sizeof value)) return;
        // EAGAIN: the counter is about to overflow, so a wake-up is already pending.
        if (n < 0 && errno == EAGAIN) return;
        throw system_error("eventfd write");
    }
}

std::optional<uint64_t> EventFd::consume() const {
    uint64_t value = 0;
    for (;;) {
        ssize_t n = io::read_some(fd_.get(), &value, sizeof value);
        if (n == static_cast<ssize_t>(sizeof value)) return value;
        if (n < 0 && errno == EAGAIN) return std::nullopt;
        throw system_error("eventfd read");
    }
}

}  // namespace rkt::vmm
