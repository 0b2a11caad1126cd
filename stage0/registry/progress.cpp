#include "stage0/registry/progress.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/strings.h"

namespace rkt::registry {

Progress::Progress(bool interactive, std::FILE* out) : interactive_(interactive), out_(out) {}

Progress::~Progress() {
    close();
}

bool Progress::stderr_is_terminal() {
    const char* term = std::getenv("TERM");
    return ::isatty(STDERR_FILENO) == 1 && term && std::strcmp(term, "dumb") != 0;
}

size_t Progress::add(std::string label, uint64_t total, uint64_t held) {
    std::lock_guard lock(mu_);
    bars_.push_back({std::move(label), total, held, held, true, false});
    return bars_.size() - 1;
}

void Progress::update(size_t id, uint64_t held) {
    std::lock_guard lock(mu_);
    if (closed_ || id >= bars_.size()) return;
    Bar& b = bars_[id];
    if (held < b.started_at) b.started_at = held;  // the server restarted from zero
    b.held = held;
    draw_locked(false);
}

void Progress::finish(size_t id) {
    std::lock_guard lock(mu_);
    if (closed_ || id >= bars_.size()) return;
    bars_[id].done = true;
    bars_[id].held = bars_[id].total;
    draw_locked(true);
}

void Progress::close() {
    std::lock_guard lock(mu_);
    if (closed_) return;
    draw_locked(true);
    closed_ = true;
}

uint64_t Progress::bytes_transferred() const {
    std::lock_guard lock(mu_);
    uint64_t sum = 0;
    for (const auto& b : bars_) sum += b.held - b.started_at;
    return sum;
}

std::string Progress::render(const Bar& b) const {
    constexpr int kWidth = 30;
    double frac = b.total ? static_cast<double>(b.held) / static_cast<double>(b.total) : 1.0;
    if (frac > 1) frac = 1;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::string state = b.done ? "done" : "";
    return b.label + " [" + bar + "] " + strings::human_size(b.held) + " / " +
           strings::human_size(b.total) + (state.empty() ? "" : "  " + state);
}

void Progress::draw_locked(bool force) {
    if (!interactive_ || bars_.empty()) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::string frame;
    if (drawn_lines_ > 0) frame += "\x1b[" + std::to_string(drawn_lines_) + "A";
    for (const auto& b : bars_) frame += "\r\x1b[2K" + render(b) + "\n";
    drawn_lines_ = bars_.size();
    std::fwrite(frame.data(), 1, frame.size(), out_);
    std::fflush(out_);
}

}  // namespace rkt::registry
