// The one event loop of rkt: an epoll set whose subscribers are descriptors, each with the
// events it waits for and a handler. The VMM's event thread (queue ioeventfds, console sockets,
// tap), the kvm pod session (guest channel, VM end, signals, timer, control clients) and
// guest-init's supervisor (signals, host channel, app and command pipes) each run one.
// Level-triggered. Handlers run on the thread that calls run()/run_once(); add, modify, remove
// and stop are callable from any thread and from handlers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "common/unique_fd.h"

namespace rkt {

class EventLoop {
public:
    using Handler = std::function<void(uint32_t events)>;

    EventLoop();

    // Subscribes `fd` (not owned) for `events` (EPOLLIN, EPOLLOUT...). A descriptor subscribes
    // once; adding it again is an error.
    void add(int fd, uint32_t events, Handler handler);
    void modify(int fd, uint32_t events);
    // Unsubscribes `fd`, if it is subscribed. Events of it already waiting in this round are
    // dropped, even when a new descriptor takes the same number before they are dispatched.
    void remove(int fd);
    bool subscribed(int fd) const;

    // Waits at most `timeout_ms` (-1: forever) and dispatches what arrived, until stop().
    // Returns the number of handlers run (0 on a signal's interruption).
    int run_once(int timeout_ms);
    // Dispatches events until stop() is called.
    void run();
    // Ends run(), and the dispatching of the rest of the current round; wakes a waiting thread.
    void stop();
    bool stopped() const;

private:
    // Each subscription has its own key in the epoll data, never reused: a stale event cannot
    // reach the next owner of a descriptor number.
    static constexpr uint64_t kWakeKey = 0;

    std::shared_ptr<Handler> handler_of(uint64_t key) const;

    UniqueFd epoll_;
    UniqueFd wake_;  // an eventfd: stop() from another thread
    mutable std::mutex mutex_;
    std::map<uint64_t, std::shared_ptr<Handler>> by_key_;
    std::map<int, uint64_t> key_of_fd_;
    uint64_t next_key_ = kWakeKey + 1;
    bool stopped_ = false;
};

}  // namespace rkt
