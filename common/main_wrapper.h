// The single place where an executable turns an escaped Error into one line on stderr and an exit
// code. Every main() of the project is `return rkt::run_main("name", [&] { ... });`.
#pragma once

#include <exception>
#include <string>

#include "common/error.h"
#include "common/log.h"

namespace rkt {

template <typename Fn>
int run_main(const std::string& prefix, Fn&& fn) {
    log::set_prefix(prefix);
    try {
        return fn();
    } catch (const Error& e) {
        log::info(e.what());
        return e.exit_code();
    } catch (const std::exception& e) {
        log::info(std::string("internal error: ") + e.what());
        return kErrorExitCode;
    }
}

}  // namespace rkt
