// A full file system while rkt writes into its data directory: one line that says so, where, and
// what frees space, instead of the errno of whichever write hit it first.
#pragma once

#include <filesystem>
#include <string_view>

#include "common/error.h"

namespace rkt::store {

// ENOSPC or EDQUOT.
bool is_out_of_space(int err);
// "no space left on device while writing <what> to <dir>; free space or run `rkt image gc`"
Error out_of_space(std::string_view what, const std::filesystem::path& dir);
// Whether `e` was caused by a full file system and is not yet out_of_space()'s line.
bool needs_out_of_space_line(const Error& e);

// Runs `fn`; an Error a full file system caused becomes out_of_space(what, dir).
template <typename Fn>
auto explain_out_of_space(std::string_view what, const std::filesystem::path& dir, Fn&& fn)
    -> decltype(fn()) {
    try {
        return fn();
    } catch (const Error& e) {
        if (needs_out_of_space_line(e)) throw out_of_space(what, dir);
        throw;
    }
}

}  // namespace rkt::store
