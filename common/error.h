// The one error type of the project: a message plus the context it crossed on its way up.
// It is caught in exactly one place per executable (see main_wrapper.h), printed on one line,
// and turned into an exit code.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rkt {

// rkt's exit code for every error of its own (as opposed to an app's exit status).
inline constexpr int kErrorExitCode = 254;

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, int exit_code = kErrorExitCode, int cause_errno = 0)
        : std::runtime_error(message), exit_code_(exit_code), errno_(cause_errno) {}

    int exit_code() const { return exit_code_; }
    // The errno of the system call that failed (system_error()), or 0: lets a caller that knows
    // what was being written turn e.g. ENOSPC into advice.
    int cause_errno() const { return errno_; }

    // Returns a copy whose message is prefixed with "context: ".
    Error with_context(std::string_view context) const {
        return Error(std::string(context) + ": " + what(), exit_code_, errno_);
    }

private:
    int exit_code_;
    int errno_;
};

// An Error built from errno: "<what>: <strerror(errno)>".
Error system_error(std::string_view what, int err = errno);

// Throws system_error(what) when `result` is negative; returns `result` otherwise.
template <typename T>
T check_sys(T result, std::string_view what) {
    if (result < 0) throw system_error(what);
    return result;
}

// Runs `fn`, and if it throws an Error, rethrows it with `context` prepended.
template <typename Fn>
auto with_context(std::string_view context, Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const Error& e) {
        throw e.with_context(context);
    }
}

}  // namespace rkt
