// --format=json|json-pretty, shared by the listing commands.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace rkt::commands {

// Throws rkt's error for anything but "", "json" and "json-pretty".
void check_json_format(const std::string& format);
// Prints `value` on stdout in the given format ("json": one line; "json-pretty": indented).
void print_json(const nlohmann::json& value, const std::string& format);

}  // namespace rkt::commands
