#include "vmm/event_loop.h"

#include <sys/epoll.h>

#include <array>
#include <cerrno>

#include "common/error.h"

namespace rkt::vmm {

EventLoop::EventLoop() : epoll_(check_sys(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = stop_event_.fd();
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_event_.fd(), &ev), "epoll_ctl");
}

void EventLoop::add(int fd, uint32_t events, Handler handler) {
    std::lock_guard lock(mutex_);
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl add");
    handlers_[fd] = std::make_shared<Handler>(std::move(handler));
}

void EventLoop::modify(int fd, uint32_t events) {
    std::lock_guard lock(mutex_);
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev), "epoll_ctl modify");
}

void EventLoop::remove(int fd) {
    std::lock_guard lock(mutex_);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(fd);
}

int EventLoop::run_once(int timeout_ms) {
    std::array<epoll_event, 32> events{};
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        throw system_error("epoll_wait");
    }
    int handled = 0;
    for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<size_t>(i)].data.fd;
        if (fd == stop_event_.fd()) {
            std::lock_guard lock(mutex_);
            stopped_ = true;
            continue;
        }
        std::shared_ptr<Handler> handler;
        {
            std::lock_guard lock(mutex_);
            auto it = handlers_.find(fd);
            if (it != handlers_.end()) handler = it->second;
        }
        if (handler) {
            (*handler)(events[static_cast<size_t>(i)].events);
            ++handled;
        }
    }
    return handled;
}

void EventLoop::run() {
    while (!stopped()) run_once(-1);
}

void EventLoop::stop() {
    stop_event_.signal();
}

bool EventLoop::stopped() const {
    std::lock_guard lock(mutex_);
    return stopped_;
}

}  // namespace rkt::vmm
