#include "stage1-nspawn/network.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "network/netns.h"

namespace rkt::nspawn::network {

Plan plan(const std::vector<std::string>& net) {
    Plan p;
    p.selection = net::parse_net_selection(net);
    p.host = p.selection.kind == net::NetSelection::Kind::kHost;
    return p;
}

void setup(const Pod& pod, const Plan& plan, pid_t pod_init, PodNetworks& out) {
    if (plan.host) return;
    if (plan.selection.kind == net::NetSelection::Kind::kNone) {
        fs::write_file_atomic(pod.dir() / "net-info.json", "[]\n", 0644,
                              fs::Durability::kAtomicOnly);
        return;
    }
    std::string netns = net::netns_path_for(pod.uuid());
    out.lease.emplace(pod.dir(), pod.options().cni_path, netns);
    net::bind_netns_of(pod_init, netns);
    out.attached = net::attach_networks(
        net::pod_network_spec(pod.options(), plan.selection, pod.uuid(), pod.dir(), netns),
        out.ports);
    for (const auto& a : out.attached)
        log::debug("network " + a.net_name + ": " + a.if_name + " " + a.ip);
}

void bring_up_loopback() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) throw system_error("cannot open a socket to configure loopback");
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0)
        throw system_error("cannot read the flags of lo");
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) throw system_error("cannot bring lo up");
}

void teardown(const Pod& pod) {
    net::detach_networks(pod.dir(), pod.options().cni_path, net::plugin_timeout());
    net::remove_netns(net::netns_path_for(pod.uuid()));
}

}  // namespace rkt::nspawn::network
