#include "stage1-kvm/log_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>

#include "common/error.h"
#include "common/io.h"

namespace rkt::kvm {

namespace {
constexpr size_t kChunk = size_t{64} * 1024;
}  // namespace

LogPump::~LogPump() {
    finish();
}

void LogPump::add(UniqueFd pipe, CappedLog log) {
    int flags = ::fcntl(pipe.get(), F_GETFL);
    if (flags < 0 || ::fcntl(pipe.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        throw system_error("fcntl");
    streams_.push_back({std::move(pipe), std::move(log)});
}

void LogPump::start() {
    stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_) throw system_error("eventfd");
    thread_ = std::thread([this] { loop(); });
}

void LogPump::finish() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof one);
    thread_.join();
}

bool LogPump::copy_some(Stream& s) {
    char buf[kChunk];
    ssize_t n = io::read_some(s.pipe.get(), buf, sizeof buf);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;
    // A full disk or a failed rotation loses output, never the pod.
    s.log.write({buf, static_cast<size_t>(n)});
    return true;
}

void LogPump::loop() {
    std::vector<pollfd> fds(streams_.size() + 1);
    for (;;) {
        size_t watched = 0;
        for (size_t i = 0; i < streams_.size(); ++i) {
            fds[i] = {streams_[i].open ? streams_[i].pipe.get() : -1, POLLIN, 0};
            watched += streams_[i].open ? 1 : 0;
        }
        if (watched == 0) return;
        fds.back() = {stop_.get(), POLLIN, 0};
        if (io::retry_eintr([&] { return ::poll(fds.data(), fds.size(), -1); }) < 0) return;
        if (fds.back().revents) {
            // The writers are gone: what is in the pipes is all there will be.
            for (auto& s : streams_)
                while (s.open && copy_some(s)) {
                    pollfd p{s.pipe.get(), POLLIN, 0};
                    if (::poll(&p, 1, 0) <= 0) break;
                }
            return;
        }
        for (size_t i = 0; i < streams_.size(); ++i) {
            if (!fds[i].revents) continue;
            if (!copy_some(streams_[i])) streams_[i].open = false;
        }
    }
}

}  // namespace rkt::kvm
