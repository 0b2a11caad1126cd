#include "guest-init/power.h"

#include <sys/reboot.h>
#include <unistd.h>

namespace rkt::guest_init {

void power_off() {
    ::sync();
    ::reboot(RB_AUTOBOOT);
    // Only reached if the kernel refused; halting at least stops the guest from running on.
    ::reboot(RB_HALT_SYSTEM);
    for (;;) ::pause();
}

}  // namespace rkt::guest_init
