#include "guest-init/protocol_port.h"

#include <dirent.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/guest_protocol.h"
#include "common/strings.h"

namespace rkt::guest_init {

namespace {

std::string named_port_device() {
    const char* dir = "/sys/class/virtio-ports";
    DIR* d = ::opendir(dir);
    if (!d) return {};
    std::string found;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        auto content = fs::read_file_if_exists(std::string(dir) + "/" + name + "/name");
        if (content && strings::trim(*content) == guest::kPortName) {
            found = "/dev/" + name;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace

std::string find_protocol_port(const std::map<std::string, std::string>& kernel_params,
                               std::chrono::milliseconds timeout) {
    if (auto it = kernel_params.find("rkt.guest_port"); it != kernel_params.end()) {
        if (it->second.rfind("/dev/", 0) != 0 || it->second.find("..") != std::string::npos)
            throw Error("rkt.guest_port=" + it->second + " must name a device under /dev");
        return it->second;
    }
    // Ports are announced by the device after the driver is up, possibly just after init starts.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string dev = named_port_device();
        if (!dev.empty() && ::access(dev.c_str(), F_OK) == 0) return dev;
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw Error("no virtio-serial port named " + std::string(guest::kPortName) +
                " (the VMM must provide it, or name the port with rkt.guest_port=/dev/...)");
}

UniqueFd open_protocol_port(const std::string& device) {
    UniqueFd fd(::open(device.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!fd) throw system_error("cannot open the host port " + device);
    if (::isatty(fd.get())) {
        termios t{};
        check_sys(::tcgetattr(fd.get(), &t), "cannot read the terminal settings of " + device);
        ::cfmakeraw(&t);
        check_sys(::tcsetattr(fd.get(), TCSANOW, &t), "cannot make " + device + " raw");
    }
    return fd;
}

}  // namespace rkt::guest_init
