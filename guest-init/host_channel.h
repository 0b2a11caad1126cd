// guest-init's end of the guest protocol: the port's fd, the frame reader and writer, and the
// diagnostics that go both to the host (Log frames) and to the kernel console.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/guest_protocol.h"
#include "common/unique_fd.h"

namespace rkt::guest_init {

// "guest-init: <message>\n" with every control character of the message (a newline, a carriage
// return, an escape) shown as '?': messages quote what images and apps named (a program's path,
// a user), and none of that may start a line of its own on the console, where the host reads
// the kernel's panic line.
std::string console_line(std::string_view message);
// Writes console_line(message) to the console (stderr of PID 1) in one write.
void console(std::string_view message);

class HostChannel {
public:
    explicit HostChannel(UniqueFd port) : port_(std::move(port)) {}

    int fd() const { return port_.get(); }
    bool connected() const { return connected_; }
    void set_debug(bool on) { debug_ = on; }

    // Sends a message; a failure marks the host as gone (logged once) and is not thrown:
    // guest-init must still clean up and power off.
    void send(const guest::Message& message);
    // Sends the last message before the VM ends and returns only once the host has taken it off
    // the virtqueue (a blocking write to a virtio port waits for that; a non-blocking one does
    // not, and a reset right after could lose it). Gives up if the port is not writable within
    // `timeout` (the host is gone).
    void send_last(const guest::Message& message, std::chrono::milliseconds timeout);
    // After the last message: waits until the host hangs up (reads return end of file), which
    // it does once it has everything, at most `timeout`. Only then may the VM end: a VMM can
    // still hold frames the guest handed to it (a blocking write to a virtio port waits for
    // the device to take *a* buffer, not necessarily the last one).
    void wait_for_hangup(std::chrono::milliseconds timeout);

    void debug(std::string_view message);
    void info(std::string_view message);
    void warn(std::string_view message);
    void error(std::string_view message);

    // Reads what the port has and returns the messages that are complete. Sets connected() to
    // false at end of file. Throws rkt::Error when the host sends garbage.
    bool read_available();
    std::optional<guest::Message> next_message() { return reader_.next_message(); }

    // Blocks until the host sends a PodSpec (other messages before it are answered or noted).
    // Returns nullopt if the host asked to stop, or went away, before sending one.
    std::optional<guest::PodSpec> wait_for_pod_spec();

private:
    void log(guest::LogMessage::Level level, std::string_view message, bool to_console);

    UniqueFd port_;
    guest::FrameWriter writer_;
    guest::FrameReader reader_;
    bool connected_ = true;
    bool debug_ = false;
};

}  // namespace rkt::guest_init
