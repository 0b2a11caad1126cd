#include "scripted_registry.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::registry::test {

namespace {

constexpr int kPollMs = 50;
constexpr int kReadTimeoutMs = 10000;  // a client that stops talking ends its connection

// Reads one chunk, waiting at most kReadTimeoutMs; "" at EOF or timeout.
std::string read_some(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kReadTimeoutMs) <= 0) return "";
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        data.remove_prefix(static_cast<size_t>(n));
    }
}

}  // namespace

ScriptedRegistry::ScriptedRegistry(Handler handler) : handler_(std::move(handler)) {
    listener_.reset(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check_sys(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind");
    check_sys(::listen(listener_.get(), 16), "listen");
    socklen_t len = sizeof addr;
    check_sys(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len),
              "getsockname");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
}

ScriptedRegistry::~ScriptedRegistry() {
    stop_ = true;
    thread_.join();
}

std::vector<ScriptedRequest> ScriptedRegistry::requests() const {
    std::lock_guard lock(mu_);
    return requests_;
}

void ScriptedRegistry::serve() {
    while (!stop_) {
        pollfd p{listener_.get(), POLLIN, 0};
        if (::poll(&p, 1, kPollMs) <= 0) continue;
        UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (conn) answer(conn.get());
    }
}

void ScriptedRegistry::answer(int fd) {
    std::string data = read_some(fd);
    if (data.empty() || data[0] == '\x16') return;  // EOF, or a TLS ClientHello
    size_t end;
    while ((end = data.find("\r\n\r\n")) == std::string::npos) {
        std::string more = read_some(fd);
        if (more.empty()) return;
        data += more;
    }
    ScriptedRequest req;
    std::vector<std::string> lines = strings::split(data.substr(0, end), '\n');
    std::vector<std::string> start = strings::split(strings::trim(lines[0]), ' ');
    if (start.size() < 2) return;
    req.method = start[0];
    req.path = start[1];
    for (size_t i = 1; i < lines.size(); ++i) {
        auto colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        req.headers[strings::to_lower(strings::trim(lines[i].substr(0, colon)))] =
            strings::trim(lines[i].substr(colon + 1));
    }
    req.body = data.substr(end + 4);
    size_t want =
        req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
    while (req.body.size() < want) {
        std::string more = read_some(fd);
        if (more.empty()) return;
        req.body += more;
    }
    ScriptedResponse resp = handler_(req);
    {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
    }
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " Scripted\r\n";
    for (const auto& h : resp.headers) out += h + "\r\n";
    out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\nConnection: close\r\n\r\n";
    if (req.method != "HEAD") out += resp.body;
    send_all(fd, out);
}

}  // namespace rkt::registry::test
