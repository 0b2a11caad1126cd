#include "vmm/vm_exit.h"

namespace rkt::vmm {

const char* to_string(VmExitReason reason) {
    switch (reason) {
        case VmExitReason::kGuestReset:
            return "guest-reset";
        case VmExitReason::kGuestPowerOff:
            return "guest-power-off";
        case VmExitReason::kGuestCrash:
            return "guest-crash";
        case VmExitReason::kTripleFault:
            return "triple-fault";
        case VmExitReason::kGuestHalted:
            return "guest-halted";
        case VmExitReason::kInternalError:
            return "kvm-internal-error";
        case VmExitReason::kEntryFailure:
            return "kvm-entry-failure";
        case VmExitReason::kUnknownExit:
            return "unknown-exit";
        case VmExitReason::kHostStop:
            return "host-stop";
        case VmExitReason::kTimeout:
            return "timeout";
        case VmExitReason::kVmmError:
            return "vmm-error";
    }
    return "unknown";
}

}  // namespace rkt::vmm
