// How a VM ended, as the vCPU loop, a device or the host saw it.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rkt::vmm {

enum class VmExitReason {
    kGuestReset,     // i8042 reset (reboot=k) or a reset system event: the guest's way to end
    kGuestPowerOff,  // a shutdown system event
    kGuestCrash,     // a crash system event
    kTripleFault,    // KVM_EXIT_SHUTDOWN
    kGuestHalted,    // KVM_EXIT_HLT (only without the in-kernel irqchip)
    kInternalError,  // KVM_EXIT_INTERNAL_ERROR: KVM could not emulate something
    kEntryFailure,   // KVM_EXIT_FAIL_ENTRY: the hardware refused the vCPU state
    kUnknownExit,    // an exit reason this VMM does not handle
    kHostStop,       // the host asked the VM to stop
    kTimeout,        // the run deadline passed
    kVmmError,       // the VMM itself failed (a syscall, a device)
};

const char* to_string(VmExitReason reason);

struct VmExit {
    VmExitReason reason = VmExitReason::kVmmError;
    std::string message;
    // True when the guest ended itself on purpose, or the host stopped it.
    bool clean() const {
        return reason == VmExitReason::kGuestReset || reason == VmExitReason::kGuestPowerOff ||
               reason == VmExitReason::kHostStop;
    }
};

struct VmTimings {
    std::chrono::microseconds setup{0};             // build started -> vCPUs started
    std::optional<std::chrono::microseconds> boot;  // build started -> boot timer written
    std::chrono::microseconds total{0};             // build started -> VM ended
};

struct VmResult {
    VmExit exit;
    VmTimings timings;
};

}  // namespace rkt::vmm
