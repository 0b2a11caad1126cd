// TpmChild: the TpmDevice in a forked child, asked one JSON line at a time under a deadline.
#include "stage0/tpm/tpm_child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::tpm {
namespace {

using nlohmann::json;

// Answers are a few KiB at most (a quote); a longer line is not one of ours.
constexpr size_t kMaxLine = size_t{256} * 1024;
// Our messages nest three levels; a deeper one is garbage (and the parser recurses per level).
constexpr size_t kMaxDepth = 8;
constexpr std::chrono::milliseconds kExitGrace{2000};
// Where the child keeps its end of the channel; it closes every fd above it.
constexpr int kChannelFd = 3;

std::string to_hex(const std::vector<uint8_t>& bytes) {
    return strings::to_hex(bytes.data(), bytes.size());
}

std::vector<uint8_t> from_hex(const std::string& text) {
    auto bytes = strings::from_hex(text);
    if (!bytes) throw Error("bad hex in a TPM child message");
    return std::move(*bytes);
}

std::vector<uint8_t> hex_field(const json& j, const char* key) {
    return from_hex(j.at(key).get<std::string>());
}

// Paths travel as hex: JSON strings must be UTF-8 and a path need not be.
std::string path_hex(const std::filesystem::path& p) {
    const std::string& s = p.native();
    return to_hex(std::vector<uint8_t>(s.begin(), s.end()));
}

std::filesystem::path hex_path(const json& j, const char* key) {
    const auto bytes = hex_field(j, key);
    return std::filesystem::path(std::string(bytes.begin(), bytes.end()));
}

json bank_values_json(const std::vector<BankValue>& values) {
    json out = json::array();
    for (const auto& v : values) out.push_back({{"alg", v.alg}, {"hex", to_hex(v.bytes)}});
    return out;
}

std::vector<BankValue> bank_values(const json& j) {
    std::vector<BankValue> out;
    for (const auto& v : j)
        out.push_back(BankValue{v.at("alg").get<std::string>(), hex_field(v, "hex")});
    return out;
}

void send_line(int fd, const json& message) {
    // Error texts may quote a path that is not UTF-8: replaced, not refused.
    const std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("cannot write to the TPM channel");
        done += static_cast<size_t>(n);
    }
}

// ---- the child --------------------------------------------------------------------------------

json answer(TpmDevice& tpm, const json& request) {
    const auto op = request.at("op").get<std::string>();
    if (op == "banks") return tpm.banks(request.at("pcr").get<unsigned>());
    if (op == "read") return bank_values_json(tpm.read(request.at("pcr").get<unsigned>()));
    if (op == "extend") {
        tpm.extend(request.at("pcr").get<unsigned>(), bank_values(request.at("digests")));
        return nullptr;
    }
    if (op == "identity") return tpm.identity();
    if (op == "boot_counters") {
        const BootCounters c = tpm.boot_counters();
        return {{"reset", c.reset_count}, {"restart", c.restart_count}};
    }
    if (op == "attestation_key") return tpm.attestation_key(hex_path(request, "key_dir"));
    if (op == "quote") {
        const QuoteFiles q =
            tpm.quote(hex_path(request, "key_dir"), request.at("pcr").get<unsigned>(),
                      request.at("alg").get<std::string>(), hex_field(request, "nonce"));
        return {{"message", to_hex(q.message)},
                {"signature", to_hex(q.signature)},
                {"pcrs", to_hex(q.pcrs)}};
    }
    throw Error("the TPM child has no operation \"" + strings::printable(op, 40) + "\"");
}

// Takes the first whole line out of `pending`, if it holds one.
std::optional<std::string> take_line(std::string& pending) {
    const auto nl = pending.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = pending.substr(0, nl);
    pending.erase(0, nl + 1);
    return line;
}

// Reads one request line; nullopt at the end of the channel (the parent is done) or on a line
// no parent of ours sends.
std::optional<std::string> next_request(int fd, std::string& pending) {
    for (;;) {
        if (auto line = take_line(pending)) return line;
        if (pending.size() > kMaxLine) return std::nullopt;
        std::array<char, 4096> buf{};
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        pending.append(buf.data(), static_cast<size_t>(n));
    }
}

// Opens the TPM, says whether that worked, then answers until the parent closes the channel.
// Returns (rather than exits) so that the TpmDevice is destroyed: its handles are flushed.
int serve(int fd, const std::string& tcti) {
    std::unique_ptr<TpmDevice> tpm;
    try {
        tpm = std::make_unique<TpmDevice>(tcti);
    } catch (const std::exception& e) {
        send_line(fd, {{"error", e.what()}});
        return 0;
    }
    send_line(fd, {{"ok", nullptr}});
    std::string pending;
    while (auto line = next_request(fd, pending)) {
        json reply;
        try {
            reply = {{"ok", answer(*tpm, json::parse(*line))}};
        } catch (const std::exception& e) {
            reply = {{"error", e.what()}};
        }
        send_line(fd, reply);
    }
    return 0;
}

[[noreturn]] void child_main(int fd, pid_t parent, const std::string& tcti) {
    int code = 1;
    try {
        // Dies with rkt (the parent may be gone already: then it has nothing to serve).
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != parent) ::_exit(1);
        if (fd != kChannelFd && ::dup2(fd, kChannelFd) < 0) ::_exit(1);
        ::close_range(kChannelFd + 1, ~0U, 0);
        // Nothing of the child's may land in rkt's output; tss2 logs to stderr, and our errors
        // carry its return codes, so its log is quiet unless asked for.
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::close(null);
        }
        ::setenv("TSS2_LOG", "all+none", 0);
        code = serve(kChannelFd, tcti);
    } catch (...) {
        code = 1;
    }
    // Not exit(): the parent's atexit handlers and buffers are not the child's to run.
    ::_exit(code);
}

std::string seconds_text(std::chrono::milliseconds d) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "%g", static_cast<double>(d.count()) / 1000.0);
    return buf.data();
}

std::string status_text(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "wait status " + std::to_string(status);
}

}  // namespace

TpmChild::TpmChild(const std::string& tcti, std::chrono::milliseconds deadline)
    : tcti_(tcti), deadline_(deadline) {
    std::array<int, 2> sv{};
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()),
              "cannot make the TPM channel");
    UniqueFd ours(sv[0]);
    UniqueFd theirs(sv[1]);
    const pid_t parent = ::getpid();
    const pid_t pid = check_sys(::fork(), "cannot fork the TPM child");
    if (pid == 0) child_main(theirs.get(), parent, tcti);
    pid_ = pid;
    // Without pidfd support (Linux < 5.3) the child is killed at once when we are done.
    const auto pidfd = ::syscall(SYS_pidfd_open, pid, 0);
    pidfd_ = UniqueFd(pidfd < 0 ? -1 : static_cast<int>(pidfd));
    channel_ = std::move(ours);
    theirs.reset();
    try {
        // The child's first line says whether it could open the TPM.
        const std::string line = read_line();
        const json hello = json::parse(line, nullptr, false);
        if (hello.is_object() && hello.contains("error") && hello["error"].is_string())
            throw Error(hello["error"].get<std::string>());
        if (!hello.is_object() || !hello.contains("ok"))
            abandon("the TPM child for " + tcti_ + " sent a garbled greeting");
    } catch (...) {
        reap(kExitGrace);
        throw;
    }
}

TpmChild::~TpmChild() {
    reap(kExitGrace);
}

int TpmChild::reap(std::chrono::milliseconds grace) noexcept {
    if (pid_ < 0) return -1;
    // The child ends when it reads the end of the channel.
    channel_.reset();
    bool ended = false;
    if (pidfd_ && grace.count() > 0) {
        const auto end = std::chrono::steady_clock::now() + grace;
        for (;;) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{pidfd_.get(), POLLIN, 0};
            const int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r > 0) {
                ended = true;
                break;
            }
            if (r == 0 || errno != EINTR) break;
        }
    }
    // Not reaped yet, so the pid is still the child's.
    if (!ended) ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    pidfd_.reset();
    return status;
}

void TpmChild::abandon(const std::string& why) {
    reap(std::chrono::milliseconds(0));
    broken_ = why;
    throw Error(why);
}

std::string TpmChild::read_line() {
    const auto end = std::chrono::steady_clock::now() + deadline_;
    for (;;) {
        if (auto line = take_line(pending_)) return *line;
        if (pending_.size() > kMaxLine)
            abandon("the TPM child for " + tcti_ + " sent an answer longer than " +
                    std::to_string(kMaxLine) + " bytes");
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            abandon("the TPM at " + tcti_ + " did not answer within " + seconds_text(deadline_) +
                    " s; check it, or run with --tpm=off");
        pollfd p{channel_.get(), POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) abandon(system_error("cannot wait for the TPM child").what());
        if (r == 0) continue;  // the deadline is checked above
        std::array<char, 4096> buf{};
        const ssize_t n = ::read(channel_.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            // It died: its status says how (a crash in tss2, a kill from outside).
            const int status = reap(kExitGrace);
            broken_ = "the TPM child for " + tcti_ + " ended without answering (" +
                      status_text(status) + ")";
            throw Error(broken_);
        }
        pending_.append(buf.data(), static_cast<size_t>(n));
    }
}

json TpmChild::call(const json& request) {
    if (pid_ < 0)
        throw Error(broken_.empty() ? "the TPM child for " + tcti_ + " has ended" : broken_);
    try {
        send_line(channel_.get(), request);
    } catch (const Error& e) {
        abandon(std::string(e.what()) + " (the TPM child for " + tcti_ + ")");
    }
    const std::string line = read_line();
    if (strings::json_nesting_depth(line) > kMaxDepth)
        abandon("the TPM child for " + tcti_ + " sent an answer nested too deep");
    const json reply = json::parse(line, nullptr, false);
    if (reply.is_object()) {
        if (const auto it = reply.find("error"); it != reply.end() && it->is_string())
            throw Error(it->get<std::string>());
        if (const auto it = reply.find("ok"); it != reply.end()) return *it;
    }
    abandon("the TPM child for " + tcti_ +
            " sent a garbled answer: " + strings::printable(line, 100));
}

namespace {

// Reads an answer's value; one of the wrong shape means the child is not ours to trust.
template <typename Fn>
auto decode(Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const json::exception& e) {
        throw Error(std::string("the TPM child sent an answer of the wrong shape: ") + e.what());
    }
}

}  // namespace

std::vector<std::string> TpmChild::banks(unsigned pcr) {
    const json ok = call({{"op", "banks"}, {"pcr", pcr}});
    return decode([&] { return ok.get<std::vector<std::string>>(); });
}

std::vector<BankValue> TpmChild::read(unsigned pcr) {
    const json ok = call({{"op", "read"}, {"pcr", pcr}});
    return decode([&] { return bank_values(ok); });
}

void TpmChild::extend(unsigned pcr, const std::vector<BankValue>& digests) {
    call({{"op", "extend"}, {"pcr", pcr}, {"digests", bank_values_json(digests)}});
}

std::string TpmChild::identity() {
    const json ok = call({{"op", "identity"}});
    return decode([&] { return ok.get<std::string>(); });
}

BootCounters TpmChild::boot_counters() {
    const json ok = call({{"op", "boot_counters"}});
    return decode([&] {
        return BootCounters{ok.at("reset").get<uint32_t>(), ok.at("restart").get<uint32_t>()};
    });
}

std::string TpmChild::attestation_key(const std::filesystem::path& key_dir) {
    const json ok = call({{"op", "attestation_key"}, {"key_dir", path_hex(key_dir)}});
    return decode([&] { return ok.get<std::string>(); });
}

QuoteFiles TpmChild::quote(const std::filesystem::path& key_dir, unsigned pcr,
                           const std::string& alg, const std::vector<uint8_t>& nonce) {
    const json ok = call({{"op", "quote"},
                          {"key_dir", path_hex(key_dir)},
                          {"pcr", pcr},
                          {"alg", alg},
                          {"nonce", to_hex(nonce)}});
    return decode([&] {
        return QuoteFiles{hex_field(ok, "message"), hex_field(ok, "signature"),
                          hex_field(ok, "pcrs")};
    });
}

}  // namespace rkt::tpm
