#include "stage1-nspawn/network.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace rkt::nspawn::network {

Plan plan(const std::vector<std::string>& net) {
    Plan p;
    std::vector<std::string> names;
    for (const auto& entry : net) {
        for (const auto& part : strings::split(entry, ',')) {
            std::string name = strings::trim(part);
            if (!name.empty()) names.push_back(name);
        }
    }
    if (names.empty()) names = {"default"};
    for (const auto& n : names) {
        if ((n == "host" || n == "none") && names.size() > 1)
            throw Error("--net=" + n + " cannot be combined with other networks");
    }
    p.host = names.size() == 1 && names[0] == "host";
    if (!p.host && !(names.size() == 1 && names[0] == "none")) p.networks = names;
    return p;
}

void setup(const Pod& pod, const Plan& plan, pid_t pod_init) {
    (void)pod_init;
    if (plan.host) return;
    if (!plan.networks.empty())
        log::debug("networks " + strings::join(plan.networks, ",") +
                   ": CNI is not wired in yet; the pod has loopback only");
    fs::write_file_atomic(pod.dir() / "net-info.json", "[]\n");
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
    (void)pod;
}

}  // namespace rkt::nspawn::network
