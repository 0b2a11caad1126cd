#include "guest-init/host_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/io.h"

namespace rkt::guest_init {

std::string console_line(std::string_view message) {
    std::string line = "guest-init: ";
    for (char c : message) {
        auto byte = static_cast<unsigned char>(c);
        line.push_back(byte < 0x20 || byte == 0x7f ? '?' : c);
    }
    line.push_back('\n');
    return line;
}

void console(std::string_view message) {
    [[maybe_unused]] bool ok = io::try_write_all(STDERR_FILENO, console_line(message));
}

void HostChannel::send(const guest::Message& message) {
    if (!connected_) return;
    try {
        writer_.write(port_.get(), message);
    } catch (const Error& e) {
        connected_ = false;
        console(std::string("lost the host: ") + e.what());
    }
}

void HostChannel::send_last(const guest::Message& message, std::chrono::milliseconds timeout) {
    if (!connected_) return;
    pollfd p{port_.get(), POLLOUT, 0};
    int r = io::retry_eintr([&] { return ::poll(&p, 1, static_cast<int>(timeout.count())); });
    if (r <= 0 || !(p.revents & POLLOUT)) {
        connected_ = false;
        console("the host is not reading the port any more; ending without telling it");
        return;
    }
    int flags = ::fcntl(port_.get(), F_GETFL);
    if (flags >= 0) ::fcntl(port_.get(), F_SETFL, flags & ~O_NONBLOCK);
    send(message);
}

void HostChannel::wait_for_hangup(std::chrono::milliseconds timeout) {
    if (!connected_) return;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            console("the host did not hang up after the pod's end; ending anyway");
            return;
        }
        pollfd p{port_.get(), POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;  // timeout (checked above) or a transient error
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return;
        ssize_t n = ::read(port_.get(), buf, sizeof buf);  // anything now is discarded
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
    }
}

void HostChannel::log(guest::LogMessage::Level level, std::string_view message, bool to_console) {
    if (to_console) console(message);
    send(guest::LogMessage{level, std::string(message)});
}

void HostChannel::debug(std::string_view message) {
    if (debug_) log(guest::LogMessage::Level::kDebug, message, false);
}
void HostChannel::info(std::string_view message) {
    log(guest::LogMessage::Level::kInfo, message, false);
}
void HostChannel::warn(std::string_view message) {
    log(guest::LogMessage::Level::kWarning, message, true);
}
void HostChannel::error(std::string_view message) {
    log(guest::LogMessage::Level::kError, message, true);
}

bool HostChannel::read_available() {
    if (!connected_) return false;
    bool open = false;
    try {
        open = reader_.read_from(port_.get());
    } catch (const Error& e) {
        // A read error on the port is the host going away, not garbage from it.
        console(e.what());
    }
    if (!open) connected_ = false;
    return open;
}

std::optional<guest::PodSpec> HostChannel::wait_for_pod_spec() {
    for (;;) {
        while (auto m = reader_.next_message()) {
            if (auto* spec = std::get_if<guest::PodSpec>(&*m)) return std::move(*spec);
            if (std::holds_alternative<guest::StopPod>(*m)) return std::nullopt;
            warn(std::string("ignoring ") +
                 std::string(guest::message_type_name(guest::message_type(*m))) +
                 " that arrived before the pod spec");
        }
        if (!connected_) return std::nullopt;
        pollfd p{port_.get(), POLLIN, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) throw system_error("poll on the host port");
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!read_available()) return std::nullopt;
        }
    }
}

}  // namespace rkt::guest_init
