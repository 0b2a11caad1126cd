#include "stage0/commands/json_output.h"

#include <iostream>

#include "common/error.h"

namespace rkt::commands {

void check_json_format(const std::string& format) {
    if (!format.empty() && format != "json" && format != "json-pretty")
        throw Error("--format must be json or json-pretty, not \"" + format + "\"");
}

void print_json(const nlohmann::json& value, const std::string& format) {
    std::cout << (format == "json-pretty" ? value.dump(4) : value.dump()) << "\n";
}

}  // namespace rkt::commands
