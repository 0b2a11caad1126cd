// The VMM's event thread: one epoll set holding every queue ioeventfd and host-side fd (console
// sockets, tap, stdin). Handlers run on the thread that calls run(); registration is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "common/unique_fd.h"
#include "vmm/kvm/event_fd.h"

namespace rkt::vmm {

class EventLoop {
public:
    using Handler = std::function<void(uint32_t events)>;

    EventLoop();

    // `fd` is not owned. `events` are EPOLLIN/EPOLLOUT...; level-triggered.
    void add(int fd, uint32_t events, Handler handler);
    void modify(int fd, uint32_t events);
    void remove(int fd);

    // Dispatches events until stop() is called.
    void run();
    // Waits at most `timeout_ms` (-1: forever) and dispatches what arrived. Returns the number
    // of handlers run.
    int run_once(int timeout_ms);
    // Makes run() return; callable from any thread or handler.
    void stop();
    bool stopped() const;

private:
    UniqueFd epoll_;
    EventFd stop_event_;
    mutable std::mutex mutex_;
    std::map<int, std::shared_ptr<Handler>> handlers_;
    bool stopped_ = false;
};

}  // namespace rkt::vmm
