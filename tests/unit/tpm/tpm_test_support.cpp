#include "tests/unit/tpm/tpm_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nettle/nettle-meta.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace rkt::tpm::test {
namespace {

sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// A loopback socket listening on `port` (0: any free one).
UniqueFd listen_tcp(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw std::runtime_error("socket failed");
    const sockaddr_in addr = loopback(port);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0 ||
        ::listen(fd.get(), 8) < 0)
        return UniqueFd();
    return fd;
}

bool accepts(uint16_t port) {
    const UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in addr = loopback(port);
    return fd && ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

uint16_t port_of(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0)
        throw std::runtime_error("getsockname failed");
    return ntohs(addr.sin_port);
}

}  // namespace

bool have_swtpm() {
    return find_executable("swtpm").has_value();
}

std::string ListeningPorts::tcti() const {
    return "swtpm:host=127.0.0.1,port=" + std::to_string(port);
}

ListeningPorts listen_on_free_ports() {
    for (int attempt = 0; attempt < 100; ++attempt) {
        ListeningPorts ports;
        ports.server = listen_tcp(0);
        if (!ports.server) continue;
        ports.port = port_of(ports.server.get());
        if (ports.port == 65535) continue;
        ports.ctrl = listen_tcp(static_cast<uint16_t>(ports.port + 1));
        if (ports.ctrl) return ports;
    }
    throw std::runtime_error("no two consecutive free loopback ports");
}

Swtpm::Swtpm(Startup startup) {
    // swtpm binds its ports itself (an fd it is given for --server is read as a connection, not
    // accepted on): free ports are chosen, released, and if swtpm then finds one taken it
    // exits and the next pair is tried.
    for (int attempt = 0; attempt < 10; ++attempt) {
        uint16_t port = 0;
        {
            const ListeningPorts free_ports = listen_on_free_ports();
            port = free_ports.port;
        }
        SpawnOptions opts;
        opts.capture_stdout = true;
        opts.capture_stderr = true;
        process_ = ChildProcess::spawn(
            {"swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state_.path().string(), "--server",
             "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port), "--ctrl",
             "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port + 1), "--flags",
             startup == Startup::kClear ? "not-need-init,startup-clear" : "not-need-init"},
            opts);
        // Ready once both ports take connections (swtpm serves one client at a time and goes
        // back to accepting when a client leaves).
        for (int wait = 0; wait < 500; ++wait) {
            if (accepts(port) && accepts(static_cast<uint16_t>(port + 1))) {
                tcti_ = "swtpm:host=127.0.0.1,port=" + std::to_string(port);
                return;
            }
            if (process_.wait_for(std::chrono::milliseconds(10))) break;
        }
        process_ = ChildProcess();
    }
    throw std::runtime_error("swtpm did not start");
}

Swtpm::~Swtpm() = default;  // the process is killed and reaped, then its state removed

void SwtpmTest::SetUp() {
    if (!have_swtpm()) GTEST_SKIP() << "swtpm is not installed";
    swtpm_ = std::make_unique<Swtpm>();
}

void Swtpm::pause() {
    process_.kill(SIGSTOP);
}
void Swtpm::resume() {
    process_.kill(SIGCONT);
}

std::vector<uint8_t> digest(const std::string& alg, const std::vector<uint8_t>& data) {
    const nettle_hash* hash = nettle_lookup_hash(alg.c_str());
    if (!hash) throw std::runtime_error("no digest " + alg);
    std::vector<uint8_t> ctx(hash->context_size);
    hash->init(ctx.data());
    hash->update(ctx.data(), data.size(), data.data());
    std::vector<uint8_t> out(hash->digest_size);
    hash->digest(ctx.data(), out.size(), out.data());
    return out;
}

std::vector<uint8_t> bytes(const std::string& s) {
    return {s.begin(), s.end()};
}

std::string hex(const std::vector<uint8_t>& data) {
    std::string out;
    for (uint8_t b : data) {
        static const char* const kDigits = "0123456789abcdef";
        out += kDigits[b >> 4];
        out += kDigits[b & 0xf];
    }
    return out;
}

ScratchDir::ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rkt-tpm-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace rkt::tpm::test
