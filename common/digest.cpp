#include "common/digest.h"

#include <fcntl.h>
#include <nettle/sha2.h>

#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/strings.h"

// Nettle's names are macros (sha256_digest -> nettle_sha256_digest): ours keep theirs.
#undef sha256_init
#undef sha256_update
#undef sha256_digest

namespace rkt {

// Nettle rather than OpenSSL: the same speed (both use the CPU's SHA extensions), and no library
// initialisation (OpenSSL's first digest loads its configuration, 1 ms on every rkt start).
struct Sha256::State {
    sha256_ctx ctx;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
    nettle_sha256_init(&state_->ctx);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
    nettle_sha256_update(&state_->ctx, size, static_cast<const uint8_t*>(data));
}

std::string Sha256::hex_digest() {
    uint8_t md[SHA256_DIGEST_SIZE];
    nettle_sha256_digest(&state_->ctx, sizeof md, md);
    return strings::to_hex(md, sizeof md);
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.hex_digest();
}

std::string sha256_digest(std::string_view data) {
    return "sha256:" + sha256_hex(data);
}

bool is_valid_sha256_digest(std::string_view digest) {
    constexpr std::string_view prefix = "sha256:";
    if (digest.size() != prefix.size() + 64 || digest.substr(0, prefix.size()) != prefix)
        return false;
    for (char c : digest.substr(prefix.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string sha256_fd_digest(int fd, std::string_view what) {
    Sha256 h;
    std::vector<char> buf(size_t{1} << 20);
    for (;;) {
        ssize_t n = io::read_some(fd, buf.data(), buf.size());
        if (n < 0) throw system_error("cannot read " + std::string(what));
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
    }
    return "sha256:" + h.hex_digest();
}

std::string sha256_file_digest(const std::string& path) {
    UniqueFd fd = fs::open_file(path, O_RDONLY | O_CLOEXEC);
    return sha256_fd_digest(fd.get(), path);
}

}  // namespace rkt
