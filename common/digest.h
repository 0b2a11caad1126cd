// SHA-256 (Nettle), as a one-shot and as a stream (for blobs too big to hold in memory).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace rkt {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    void update(const void* data, size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    std::string hex_digest();  // lower-case hex, 64 chars; ends the stream

private:
    struct State;
    std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view data);
// "sha256:<hex>" of data.
std::string sha256_digest(std::string_view data);
// "sha256:<hex>" of everything read from `fd` to its end; `what` names it in errors.
std::string sha256_fd_digest(int fd, std::string_view what);
// "sha256:<hex>" of a file's content.
std::string sha256_file_digest(const std::string& path);
// True for "sha256:" followed by exactly 64 lower-case hex digits.
bool is_valid_sha256_digest(std::string_view digest);

}  // namespace rkt
