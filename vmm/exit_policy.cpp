#include "vmm/exit_policy.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"

namespace rkt::vmm {
namespace {

using strings::hex;

// The access limits of a kvm_run exit, all checked here: port I/O moves 1, 2 or 4 bytes at a
// time, `count` times (string I/O), from data inside the run area; MMIO moves 1 to 8 bytes.
constexpr uint32_t kMaxMmioLength = sizeof(kvm_run{}.mmio.data);
constexpr uint32_t kInternalErrorDataShown = 4;

bool valid_io_size(uint32_t size) {
    return size == 1 || size == 2 || size == 4;
}

ExitAction resume() {
    return {};
}

ExitAction stop(VmExitReason reason, std::string message) {
    return {VmExit{reason, std::move(message)}};
}

ExitAction malformed(const ExitSource& vcpu, const std::string& what) {
    return stop(VmExitReason::kVmmError, vcpu.name + ": KVM reported a malformed " + what);
}

ExitAction handle_io(const ExitSource& vcpu, kvm_run& run, const Bus& bus,
                     UnclaimedAccessLog& unclaimed) {
    const auto& io = run.io;
    uint64_t offset = io.data_offset, bytes = uint64_t{io.count} * io.size;
    bool write = io.direction == KVM_EXIT_IO_OUT;
    if (!valid_io_size(io.size) || (!write && io.direction != KVM_EXIT_IO_IN) ||
        offset > vcpu.run_area.size() || bytes > vcpu.run_area.size() - offset)
        return malformed(vcpu, "port I/O exit (port " + hex(io.port) + ", size " +
                                   std::to_string(io.size) + ", count " + std::to_string(io.count) +
                                   ")");
    std::span<uint8_t> data = vcpu.run_area.subspan(offset, bytes);
    for (uint32_t i = 0; i < io.count; ++i) {
        std::span<uint8_t> access = data.subspan(uint64_t{i} * io.size, io.size);
        bool handled =
            write ? bus.dispatch_write(io.port, access) : bus.dispatch_read(io.port, access);
        if (!handled) {
            // An absent ISA device: reads float high, writes go nowhere.
            if (!write) std::fill(access.begin(), access.end(), 0xff);
            unclaimed.note("port", io.port, write);
        }
    }
    return resume();
}

ExitAction handle_mmio(const ExitSource& vcpu, kvm_run& run, const Bus& bus,
                       UnclaimedAccessLog& unclaimed) {
    auto& mmio = run.mmio;
    if (mmio.len == 0 || mmio.len > kMaxMmioLength)
        return malformed(vcpu, "MMIO exit (address " + hex(mmio.phys_addr) + ", length " +
                                   std::to_string(mmio.len) + ")");
    std::span<uint8_t> access(mmio.data, mmio.len);
    bool handled = mmio.is_write ? bus.dispatch_write(mmio.phys_addr, access)
                                 : bus.dispatch_read(mmio.phys_addr, access);
    if (!handled) {
        if (!mmio.is_write) std::fill(access.begin(), access.end(), 0xff);
        unclaimed.note("MMIO", mmio.phys_addr, mmio.is_write != 0);
    }
    return resume();
}

ExitAction handle_system_event(const kvm_run& run) {
    uint32_t type = run.system_event.type;
    if (type == KVM_SYSTEM_EVENT_SHUTDOWN)
        return stop(VmExitReason::kGuestPowerOff, "the guest powered off");
    if (type == KVM_SYSTEM_EVENT_RESET) return stop(VmExitReason::kGuestReset, "the guest reset");
    return stop(VmExitReason::kGuestCrash,
                "the guest reported a crash (system event " + std::to_string(type) + ")");
}

ExitAction handle_internal_error(const ExitSource& vcpu, const kvm_run& run) {
    const auto& internal = run.internal;
    std::string message =
        vcpu.name + ": KVM internal error, suberror " + std::to_string(internal.suberror) + " (" +
        internal_error_name(internal.suberror) + ") at rip " + hex(vcpu.read_rip());
    for (uint32_t i = 0; i < std::min(internal.ndata, kInternalErrorDataShown); ++i)
        message += (i == 0 ? ", data " : " ") + hex(internal.data[i]);
    return stop(VmExitReason::kInternalError, message);
}

}  // namespace

void UnclaimedAccessLog::note(const char* space, uint64_t address, bool write) {
    if (!log::debug_enabled() || address == kPostCodePort) return;
    {
        std::lock_guard lock(mutex_);
        if (logged_.size() >= kMaxAddresses || !logged_.insert(address).second) return;
    }
    log::debug(std::string("vmm: guest ") + (write ? "wrote" : "read") + " unhandled " + space +
               " " + hex(address) + " (ignored)");
}

std::set<uint64_t> UnclaimedAccessLog::logged() const {
    std::lock_guard lock(mutex_);
    return logged_;
}

const char* internal_error_name(uint32_t suberror) {
    switch (suberror) {
        case KVM_INTERNAL_ERROR_EMULATION:
            return "instruction emulation failed";
        case KVM_INTERNAL_ERROR_SIMUL_EX:
            return "exception while delivering an exception";
        case KVM_INTERNAL_ERROR_DELIVERY_EV:
            return "event delivery failed";
        case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
            return "unexpected exit reason";
        default:
            return "unknown suberror";
    }
}

ExitAction handle_kvm_exit(const ExitSource& vcpu, const GuestBuses& buses,
                           UnclaimedAccessLog& unclaimed) {
    if (vcpu.run_area.size() < sizeof(kvm_run))
        throw Error(vcpu.name + ": the kvm_run area is smaller than a kvm_run");
    auto& run = *reinterpret_cast<kvm_run*>(vcpu.run_area.data());
    switch (run.exit_reason) {
        case KVM_EXIT_IO:
            return handle_io(vcpu, run, buses.pio, unclaimed);
        case KVM_EXIT_MMIO:
            return handle_mmio(vcpu, run, buses.mmio, unclaimed);
        case KVM_EXIT_INTR:
            return resume();
        case KVM_EXIT_HLT:
            return stop(VmExitReason::kGuestHalted, vcpu.name + " halted");
        case KVM_EXIT_SHUTDOWN:
            return stop(VmExitReason::kTripleFault,
                        vcpu.name + " shut down (triple fault) at rip " + hex(vcpu.read_rip()));
        case KVM_EXIT_SYSTEM_EVENT:
            return handle_system_event(run);
        case KVM_EXIT_INTERNAL_ERROR:
            return handle_internal_error(vcpu, run);
        case KVM_EXIT_FAIL_ENTRY:
            return stop(VmExitReason::kEntryFailure,
                        vcpu.name + ": KVM could not enter the guest, hardware reason " +
                            hex(run.fail_entry.hardware_entry_failure_reason));
        default:
            return stop(VmExitReason::kUnknownExit, vcpu.name + ": unhandled KVM exit reason " +
                                                        std::to_string(run.exit_reason));
    }
}

}  // namespace rkt::vmm
