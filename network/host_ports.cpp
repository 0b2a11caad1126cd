#include "network/host_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::net {

namespace {

UniqueFd bind_port(const PortForward& port) {
    std::string where = "--port " + port.name;
    if (port.protocol != "tcp" && port.protocol != "udp")
        throw Error(where + ": protocol \"" + strings::printable(port.protocol) +
                    "\" is neither tcp nor udp");
    if (port.host_port == 0 || port.pod_port == 0)
        throw Error(where + ": port 0 cannot be forwarded");
    std::string ip = port.host_ip.empty() ? "0.0.0.0" : port.host_ip;
    sockaddr_storage addr{};
    socklen_t length = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port.host_port);
        length = sizeof *v4;
    } else if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port.host_port);
        length = sizeof *v6;
    } else {
        throw Error(where + ": host IP \"" + strings::printable(ip) + "\" is not an IP address");
    }
    int type = port.protocol == "tcp" ? SOCK_STREAM : SOCK_DGRAM;
    UniqueFd sock(::socket(family, type | SOCK_CLOEXEC, 0));
    if (!sock) throw system_error(where + ": cannot open a socket");
    // No listen(): the socket only holds the port. Traffic for it is DNAT'd to the pod.
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), length) != 0) {
        int err = errno;
        std::string what = where + ": host port " + std::to_string(port.host_port) + "/" +
                           port.protocol + (port.host_ip.empty() ? "" : " on " + port.host_ip);
        if (err == EADDRINUSE)
            throw Error(what + " is in use (stop whatever holds it, or pick another host port)",
                        kErrorExitCode, err);
        if (err == EADDRNOTAVAIL)
            throw Error(what + ": the host has no such address", kErrorExitCode, err);
        throw system_error("cannot reserve " + what, err);
    }
    return sock;
}

}  // namespace

void reserve_host_ports(const std::vector<PortForward>& ports, PortReservations& reservations) {
    PortReservations held;
    for (const auto& port : ports) held.sockets.push_back(bind_port(port));
    for (auto& sock : held.sockets) reservations.sockets.push_back(std::move(sock));
}

}  // namespace rkt::net
