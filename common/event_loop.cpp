#include "common/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <span>

#include "common/error.h"

namespace rkt {

namespace {

epoll_event event_for(uint64_t key, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key;
    return ev;
}

}  // namespace

EventLoop::EventLoop()
    : epoll_(check_sys(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      wake_(check_sys(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")) {
    epoll_event ev = event_for(kWakeKey, EPOLLIN);
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev), "epoll_ctl add");
}

void EventLoop::add(int fd, uint32_t events, Handler handler) {
    std::lock_guard lock(mutex_);
    if (key_of_fd_.count(fd))
        throw Error("event loop: descriptor " + std::to_string(fd) + " is subscribed already");
    uint64_t key = next_key_++;
    epoll_event ev = event_for(key, events);
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl add");
    by_key_.emplace(key, std::make_shared<Handler>(std::move(handler)));
    key_of_fd_.emplace(fd, key);
}

void EventLoop::modify(int fd, uint32_t events) {
    std::lock_guard lock(mutex_);
    auto it = key_of_fd_.find(fd);
    if (it == key_of_fd_.end())
        throw Error("event loop: descriptor " + std::to_string(fd) + " is not subscribed");
    epoll_event ev = event_for(it->second, events);
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev), "epoll_ctl modify");
}

void EventLoop::remove(int fd) {
    std::lock_guard lock(mutex_);
    auto it = key_of_fd_.find(fd);
    if (it == key_of_fd_.end()) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    by_key_.erase(it->second);
    key_of_fd_.erase(it);
}

bool EventLoop::subscribed(int fd) const {
    std::lock_guard lock(mutex_);
    return key_of_fd_.count(fd) != 0;
}

std::shared_ptr<EventLoop::Handler> EventLoop::handler_of(uint64_t key) const {
    std::lock_guard lock(mutex_);
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : it->second;
}

int EventLoop::run_once(int timeout_ms) {
    std::array<epoll_event, 32> events{};
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        throw system_error("epoll_wait");
    }
    int handled = 0;
    for (const auto& event : std::span(events.data(), static_cast<size_t>(n))) {
        if (stopped()) break;
        if (event.data.u64 == kWakeKey) continue;  // stop() already set the flag
        // A copy: the handler may remove itself (or others) while it runs.
        if (std::shared_ptr<Handler> handler = handler_of(event.data.u64)) {
            (*handler)(event.events);
            ++handled;
        }
    }
    return handled;
}

void EventLoop::run() {
    while (!stopped()) run_once(-1);
}

void EventLoop::stop() {
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    uint64_t one = 1;
    // The counter stays readable, so every later wait returns at once: the loop is over.
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

bool EventLoop::stopped() const {
    std::lock_guard lock(mutex_);
    return stopped_;
}

}  // namespace rkt
