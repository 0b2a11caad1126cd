// What one KVM exit means, decided without KVM: the vCPU loop only runs KVM_RUN and hands each
// exit here. Port I/O and MMIO go to the sealed buses; every other exit reason either resumes the
// vCPU or ends the VM with a VmExit (docs/vmm.md, "How a VM ends"). The unit tests drive it with
// fabricated kvm_run areas.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "vmm/bus/bus.h"
#include "vmm/vm_exit.h"

namespace rkt::vmm {

// Guest accesses no device claimed, for --debug: each address logged once, at most
// kMaxAddresses of them, never the POST code port (Linux writes it for I/O delays). Shared by
// the vCPU threads; it costs nothing without --debug.
class UnclaimedAccessLog {
public:
    static constexpr size_t kMaxAddresses = 64;
    static constexpr uint64_t kPostCodePort = 0x80;

    void note(const char* space, uint64_t address, bool write);
    std::set<uint64_t> logged() const;

private:
    mutable std::mutex mutex_;
    std::set<uint64_t> logged_;
};

// The buses an exit is dispatched on.
struct GuestBuses {
    const Bus& pio;
    const Bus& mmio;
};

// The vCPU an exit came from.
struct ExitSource {
    std::string name;                    // "vcpu 0", the start of its messages
    std::span<uint8_t> run_area;         // the whole kvm_run mapping: port I/O data lives in it
    std::function<uint64_t()> read_rip;  // its instruction pointer, for the messages that show it
};

// What the vCPU loop does next: KVM_RUN again, or end the VM with `stop`.
struct ExitAction {
    std::optional<VmExit> stop;
    bool resumes() const { return !stop.has_value(); }
};

// Handles the exit in `vcpu.run_area` (a kvm_run, 8-byte aligned). Devices' errors propagate.
ExitAction handle_kvm_exit(const ExitSource& vcpu, const GuestBuses& buses,
                           UnclaimedAccessLog& unclaimed);

// KVM_INTERNAL_ERROR_* in words.
const char* internal_error_name(uint32_t suberror);

}  // namespace rkt::vmm
