#include "stage0/table.h"

#include <algorithm>

namespace rkt {

void Table::print(std::ostream& out, bool with_header) const {
    std::vector<size_t> width(header_.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    };
    if (with_header) measure(header_);
    for (const auto& r : rows_) measure(r);
    auto emit = [&](const std::vector<std::string>& row) {
        std::string line;
        for (size_t i = 0; i < width.size(); ++i) {
            std::string cell = i < row.size() ? row[i] : "";
            line += cell;
            if (i + 1 < width.size()) line += std::string(width[i] - cell.size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << "\n";
    };
    if (with_header) emit(header_);
    for (const auto& r : rows_) emit(r);
}

}  // namespace rkt
