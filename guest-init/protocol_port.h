// Finding and opening the virtio-console port that carries the guest protocol.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/unique_fd.h"

namespace rkt::guest_init {

// The device of the protocol port: rkt.guest_port=<dev> from the kernel command line when given,
// else the virtio-serial port named guest::kPortName (waiting up to `timeout` for it to appear).
std::string find_protocol_port(const std::map<std::string, std::string>& kernel_params,
                               std::chrono::milliseconds timeout);

// Opens the port for reading and writing; a tty (hvc) is put in raw mode so that no byte of a
// frame is translated or echoed. Blocking: the first write waits until the host is connected.
UniqueFd open_protocol_port(const std::string& device);

}  // namespace rkt::guest_init
