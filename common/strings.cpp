#include "common/strings.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace rkt::strings {

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t pos = s.find(sep, start);
        if (pos == std::string_view::npos) {
            out.emplace_back(s.substr(start));
            return out;
        }
        out.emplace_back(s.substr(start, pos - start));
        start = pos + 1;
    }
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out.append(sep);
        out.append(parts[i]);
    }
    return out;
}

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

std::string to_hex(const void* data, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    const auto* bytes = static_cast<const uint8_t*>(data);
    std::string out;
    out.reserve(size * 2);
    for (size_t i = 0; i < size; ++i) {
        out.push_back(kDigits[bytes[i] >> 4]);
        out.push_back(kDigits[bytes[i] & 0xf]);
    }
    return out;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::vector<uint8_t> out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return out;
}

bool is_decimal(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
    if (s == "0") return std::chrono::milliseconds(0);
    if (s.empty()) return std::nullopt;
    double total_ms = 0;
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
        if (start == i) return std::nullopt;
        double value = 0;
        try {
            value = std::stod(std::string(s.substr(start, i - start)));
        } catch (...) {
            return std::nullopt;
        }
        size_t ustart = i;
        while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
        std::string_view unit = s.substr(ustart, i - ustart);
        double scale;
        if (unit == "ms")
            scale = 1;
        else if (unit == "s")
            scale = 1000;
        else if (unit == "m")
            scale = 60 * 1000;
        else if (unit == "h")
            scale = 3600 * 1000;
        else if (unit == "us" || unit == "µs")
            scale = 0.001;
        else if (unit == "ns")
            scale = 0.000001;
        else
            return std::nullopt;
        total_ms += value * scale;
    }
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::string format_duration(std::chrono::milliseconds d) {
    int64_t ms = d.count();
    if (ms == 0) return "0s";
    std::string out;
    int64_t h = ms / 3600000;
    ms %= 3600000;
    int64_t m = ms / 60000;
    ms %= 60000;
    if (h) out += std::to_string(h) + "h";
    if (h || m) out += std::to_string(m) + "m";
    char buf[32];
    if (ms % 1000 == 0)
        std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
    else
        std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(ms) / 1000.0);
    return out + buf;
}

std::optional<uint64_t> parse_memory_quantity(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double value;
    try {
        value = std::stod(std::string(s.substr(0, i)));
    } catch (...) {
        return std::nullopt;
    }
    std::string_view suffix = s.substr(i);
    double scale;
    if (suffix.empty())
        scale = 1;
    else if (suffix == "k" || suffix == "K")
        scale = 1e3;
    else if (suffix == "M")
        scale = 1e6;
    else if (suffix == "G")
        scale = 1e9;
    else if (suffix == "T")
        scale = 1e12;
    else if (suffix == "Ki")
        scale = 1024.0;
    else if (suffix == "Mi")
        scale = 1024.0 * 1024;
    else if (suffix == "Gi")
        scale = 1024.0 * 1024 * 1024;
    else if (suffix == "Ti")
        scale = 1024.0 * 1024 * 1024 * 1024;
    else
        return std::nullopt;
    double bytes = value * scale;
    if (bytes < 0 || bytes > 1.8e19) return std::nullopt;
    return static_cast<uint64_t>(bytes);
}

std::optional<uint64_t> parse_cpu_quantity(std::string_view s) {
    if (s.empty()) return std::nullopt;
    bool milli = s.back() == 'm';
    std::string_view num = milli ? s.substr(0, s.size() - 1) : s;
    if (num.empty()) return std::nullopt;
    for (char c : num)
        if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return std::nullopt;
    double value;
    try {
        value = std::stod(std::string(num));
    } catch (...) {
        return std::nullopt;
    }
    return static_cast<uint64_t>(std::llround(milli ? value : value * 1000));
}

std::string human_size(uint64_t bytes) {
    static const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(buf, sizeof buf, "%.1f%s", v, units[u]);
    return buf;
}

std::string human_age(std::chrono::system_clock::time_point t,
                      std::chrono::system_clock::time_point now) {
    using namespace std::chrono;
    auto secs = duration_cast<seconds>(now - t).count();
    if (secs < 0) secs = 0;
    auto plural = [](long long n, const char* unit) {
        return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
    };
    if (secs < 1) return "just now";
    if (secs < 60) return plural(secs, "second");
    if (secs < 3600) return plural(secs / 60, "minute");
    if (secs < 86400) return plural(secs / 3600, "hour");
    return plural(secs / 86400, "day");
}

std::string format_time(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
    time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    localtime_r(&secs, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    char zone[64];
    std::strftime(zone, sizeof zone, "%z %Z", &tm);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(ms % 1000));
    return std::string(date) + frac + " " + zone;
}

bool is_valid_acname(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(s.front()) || !alnum(s.back())) return false;
    for (char c : s)
        if (!alnum(c) && c != '-') return false;
    return true;
}

bool is_valid_hostname(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (const auto& label : split(s, '.')) {
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) return false;
        }
    }
    return true;
}

std::string printable(std::string_view s, size_t limit) {
    std::string out;
    for (char c : s.substr(0, limit)) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
    if (s.size() > limit) out += "...";
    return out;
}

std::string_view image_repository(std::string_view ref) {
    if (auto at = ref.find('@'); at != std::string_view::npos) ref = ref.substr(0, at);
    size_t slash = ref.rfind('/');
    size_t colon = ref.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
        ref = ref.substr(0, colon);
    return ref;
}

std::string image_name_to_app_name(std::string_view image_name) {
    std::string_view name = image_repository(image_name);
    if (size_t slash = name.rfind('/'); slash != std::string_view::npos)
        name = name.substr(slash + 1);
    std::string out;
    for (char c : name) {
        char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.push_back((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') ? l : '-');
    }
    while (!out.empty() && out.front() == '-') out.erase(out.begin());
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out.empty() ? "app" : out;
}

size_t json_nesting_depth(std::string_view text) {
    size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

}  // namespace rkt::strings
