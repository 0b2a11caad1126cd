// Column-aligned output for list commands (rkt used tab-aligned columns).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace rkt {

class Table {
public:
    explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    void print(std::ostream& out, bool with_header) const;

private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace rkt
