// Download progress: on a terminal, one bar per blob redrawn in place; elsewhere nothing (the
// fetcher prints one summary line either way). Safe to update from several threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace rkt::registry {

class Progress {
public:
    // `out` is drawn on only when `interactive`.
    Progress(bool interactive, std::FILE* out = stderr);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    // True when stderr is a terminal that can redraw lines.
    static bool stderr_is_terminal();

    // A blob of `total` bytes of which `held` are already here (a resumed download).
    size_t add(std::string label, uint64_t total, uint64_t held = 0);
    void update(size_t id, uint64_t held);
    void finish(size_t id);
    // Draws the final state once more; later updates are ignored.
    void close();

    uint64_t bytes_transferred() const;

private:
    struct Bar {
        std::string label;
        uint64_t total = 0;
        uint64_t held = 0;
        uint64_t started_at = 0;  // bytes held when the download began (resumed part)
        bool started = false;
        bool done = false;
    };
    void draw_locked(bool force);
    std::string render(const Bar& b) const;

    bool interactive_;
    std::FILE* out_;
    mutable std::mutex mu_;
    std::vector<Bar> bars_;
    size_t drawn_lines_ = 0;
    bool closed_ = false;
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace rkt::registry
