#include "vmm/machine.h"

#include <signal.h>
#include <sys/epoll.h>

#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/log.h"
#include "vmm/arch/x86/e820.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm {
namespace {

constexpr size_t kMaxLoggedAddresses = 64;
constexpr uint64_t kPostCodePort = 0x80;  // written by Linux for I/O delays: expected, silent

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

void ignore_signal(int) {}

Vm create_checked_vm(const KvmSystem& kvm) {
    kvm.require(KvmSystem::vmm_requirements());
    return kvm.create_vm();
}

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = ignore_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
        check_sys(::sigaction(vcpu_kick_signal(), &sa, nullptr), "sigaction");
    });
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

}  // namespace

int vcpu_kick_signal() {
    return SIGRTMIN;
}

Machine::Machine(const KvmSystem& kvm, const MachineOptions& options, Clock::time_point started)
    : options_(options),
      started_(started),
      vm_(create_checked_vm(kvm)),
      memory_(x86::ram_layout(options.memory_bytes)) {
    if (options.vcpu_count == 0 || options.vcpu_count > x86::kMaxVcpus)
        throw Error("a VM has 1 to " + std::to_string(x86::kMaxVcpus) + " vCPUs");
    if (options.vcpu_count > static_cast<uint32_t>(kvm.max_vcpus()))
        throw Error("this host's KVM allows at most " + std::to_string(kvm.max_vcpus()) + " vCPUs");
    vm_.set_tss_address(x86::kTssAddress);
    if (vm_.check_extension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
        vm_.set_identity_map_address(x86::kIdentityMapAddress);
    vm_.create_irqchip();
    vm_.create_pit2();
    vm_.map_memory(memory_);
    vcpus_.reserve(options.vcpu_count);
    for (uint32_t i = 0; i < options.vcpu_count; ++i) vcpus_.push_back(vm_.create_vcpu(i));
}

Machine::~Machine() {
    if (!threads_.empty()) {
        request_stop({VmExitReason::kHostStop, "the VM was destroyed"});
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
}

InterruptLine& Machine::interrupt_line(uint32_t gsi) {
    for (auto& l : lines_)
        if (l->gsi() == gsi) return *l;
    lines_.push_back(std::make_unique<IrqFdLine>(vm_, gsi));
    return *lines_.back();
}

const VirtioSlot& Machine::add_virtio_device(std::unique_ptr<VirtioDevice> device) {
    uint32_t slot = static_cast<uint32_t>(virtio_slots_.size());
    uint32_t gsi = x86::kFirstDeviceGsi + slot;
    if (gsi > x86::kLastGsi) throw Error("too many virtio devices for the interrupt lines");
    uint64_t base = x86::kVirtioMmioStart + slot * x86::kVirtioMmioStride;
    size_t queues = device->queue_count();
    device->attach(events_);
    auto transport =
        std::make_shared<MmioTransport>(memory_, std::move(device), interrupt_line(gsi));
    mmio_bus_.insert(base, MmioTransport::kSize, transport);
    for (size_t q = 0; q < queues; ++q) {
        auto event = std::make_unique<EventFd>();
        vm_.register_ioeventfd(*event, IoSpace::kMmio, base + MmioTransport::kQueueNotifyOffset, 4,
                               q);
        EventFd* raw = event.get();
        MmioTransport* t = transport.get();
        events_.add(raw->fd(), EPOLLIN, [raw, t, q](uint32_t) {
            if (raw->consume()) t->notify_queue(static_cast<uint32_t>(q));
        });
        queue_events_.push_back(std::move(event));
    }
    char line[80];
    std::snprintf(line, sizeof line, "virtio_mmio.device=4K@0x%llx:%u",
                  static_cast<unsigned long long>(base), gsi);
    virtio_slots_.push_back({std::move(transport), base, gsi, line});
    return virtio_slots_.back();
}

std::string Machine::describe_vcpus() const {
    std::string out;
    for (const auto& v : vcpus_) {
        try {
            kvm_regs r = v.regs();
            kvm_sregs s = v.sregs();
            char line[256];
            std::snprintf(
                line, sizeof line,
                "vcpu %u: rip 0x%llx rsp 0x%llx rflags 0x%llx cs 0x%x cr0 0x%llx cr3 0x%llx "
                "cr4 0x%llx efer 0x%llx\n",
                v.id(), static_cast<unsigned long long>(r.rip),
                static_cast<unsigned long long>(r.rsp), static_cast<unsigned long long>(r.rflags),
                s.cs.selector, static_cast<unsigned long long>(s.cr0),
                static_cast<unsigned long long>(s.cr3), static_cast<unsigned long long>(s.cr4),
                static_cast<unsigned long long>(s.efer));
            out += line;
        } catch (const Error& e) {
            out += "vcpu " + std::to_string(v.id()) + ": " + e.what() + "\n";
        }
    }
    return out;
}

void Machine::record_boot_signal(Clock::time_point when) {
    std::lock_guard lock(mutex_);
    if (!boot_signal_) boot_signal_ = when;
}

void Machine::kick_all() {
    for (auto& v : vcpus_) __atomic_store_n(&v.run_state()->immediate_exit, 1, __ATOMIC_SEQ_CST);
    for (pthread_t t : vcpu_handles_) ::pthread_kill(t, vcpu_kick_signal());
}

void Machine::request_stop(VmExit exit) {
    {
        std::lock_guard lock(mutex_);
        if (exit_) return;
        exit_ = std::move(exit);
        kick_all();
    }
    events_.stop();
    stopped_cv_.notify_all();
}

void Machine::log_unhandled(const char* space, uint64_t address, bool write) {
    if (!log::debug_enabled() || address == kPostCodePort) return;
    std::lock_guard lock(mutex_);
    if (logged_addresses_.size() >= kMaxLoggedAddresses ||
        !logged_addresses_.insert(address).second)
        return;
    log::debug(std::string("vmm: guest ") + (write ? "wrote" : "read") + " unhandled " + space +
               " " + hex(address) + " (ignored)");
}

void Machine::handle_io(size_t index) {
    kvm_run* run = vcpus_[index].run_state();
    auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
    bool write = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < run->io.count; ++i) {
        std::span<uint8_t> access(data + i * run->io.size, run->io.size);
        bool handled = write ? pio_bus_.dispatch_write(run->io.port, access)
                             : pio_bus_.dispatch_read(run->io.port, access);
        if (!handled) {
            // An absent ISA device: reads float high, writes go nowhere.
            if (!write) std::memset(access.data(), 0xff, access.size());
            log_unhandled("port", run->io.port, write);
        }
    }
}

void Machine::handle_mmio(size_t index) {
    kvm_run* run = vcpus_[index].run_state();
    std::span<uint8_t> access(run->mmio.data, std::min<uint32_t>(run->mmio.len, 8));
    bool handled = run->mmio.is_write ? mmio_bus_.dispatch_write(run->mmio.phys_addr, access)
                                      : mmio_bus_.dispatch_read(run->mmio.phys_addr, access);
    if (!handled) {
        if (!run->mmio.is_write) std::memset(access.data(), 0xff, access.size());
        log_unhandled("MMIO", run->mmio.phys_addr, run->mmio.is_write);
    }
}

void Machine::vcpu_thread(size_t index) {
    std::string name = "vcpu " + std::to_string(index);
    ::pthread_setname_np(::pthread_self(), name.c_str());
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, vcpu_kick_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &kick, nullptr);
    try {
        if (options_.thread_setup) options_.thread_setup(ThreadRole::kVcpu);
        const Vcpu& vcpu = vcpus_[index];
        kvm_run* run = vcpu.run_state();
        for (;;) {
            if (vcpu.run() < 0) {
                // Kicked (or a stray signal): stop if asked to, otherwise go back in.
                std::lock_guard lock(mutex_);
                if (exit_) return;
                continue;
            }
            switch (run->exit_reason) {
                case KVM_EXIT_IO:
                    handle_io(index);
                    break;
                case KVM_EXIT_MMIO:
                    handle_mmio(index);
                    break;
                case KVM_EXIT_INTR:
                    break;
                case KVM_EXIT_HLT:
                    request_stop({VmExitReason::kGuestHalted, name + " halted"});
                    return;
                case KVM_EXIT_SHUTDOWN:
                    request_stop(
                        {VmExitReason::kTripleFault,
                         name + " shut down (triple fault) at rip " + hex(vcpu.regs().rip)});
                    return;
                case KVM_EXIT_SYSTEM_EVENT: {
                    uint32_t type = run->system_event.type;
                    if (type == KVM_SYSTEM_EVENT_SHUTDOWN)
                        request_stop({VmExitReason::kGuestPowerOff, "the guest powered off"});
                    else if (type == KVM_SYSTEM_EVENT_RESET)
                        request_stop({VmExitReason::kGuestReset, "the guest reset"});
                    else
                        request_stop({VmExitReason::kGuestCrash,
                                      "the guest reported a crash (system event " +
                                          std::to_string(type) + ")"});
                    return;
                }
                case KVM_EXIT_INTERNAL_ERROR: {
                    std::string message = name + ": KVM internal error, suberror " +
                                          std::to_string(run->internal.suberror) + " (" +
                                          internal_error_name(run->internal.suberror) +
                                          ") at rip " + hex(vcpu.regs().rip);
                    for (uint32_t i = 0; i < run->internal.ndata && i < 4; ++i)
                        message += (i == 0 ? ", data " : " ") + hex(run->internal.data[i]);
                    request_stop({VmExitReason::kInternalError, message});
                    return;
                }
                case KVM_EXIT_FAIL_ENTRY:
                    request_stop({VmExitReason::kEntryFailure,
                                  name + ": KVM could not enter the guest, hardware reason " +
                                      hex(run->fail_entry.hardware_entry_failure_reason)});
                    return;
                default:
                    request_stop(
                        {VmExitReason::kUnknownExit,
                         name + ": unhandled KVM exit reason " + std::to_string(run->exit_reason)});
                    return;
            }
        }
    } catch (const std::exception& e) {
        request_stop({VmExitReason::kVmmError, name + ": " + e.what()});
    }
}

void Machine::event_thread() {
    ::pthread_setname_np(::pthread_self(), "vmm events");
    try {
        if (options_.thread_setup) options_.thread_setup(ThreadRole::kEvents);
        events_.run();
    } catch (const std::exception& e) {
        request_stop({VmExitReason::kVmmError, std::string("event thread: ") + e.what()});
    }
}

VmResult Machine::run() {
    if (!threads_.empty()) throw Error("a VM runs only once");
    install_kick_handler();
    Clock::time_point vcpus_started = Clock::now();
    try {
        threads_.emplace_back([this] { event_thread(); });
        for (size_t i = 0; i < vcpus_.size(); ++i) {
            threads_.emplace_back([this, i] { vcpu_thread(i); });
            std::lock_guard lock(mutex_);
            vcpu_handles_.push_back(threads_.back().native_handle());
            // A stop requested before this handle was known must still reach the thread.
            if (exit_) ::pthread_kill(vcpu_handles_.back(), vcpu_kick_signal());
        }
    } catch (const std::exception& e) {
        request_stop(
            {VmExitReason::kVmmError, std::string("cannot start VM threads: ") + e.what()});
    }
    {
        std::unique_lock lock(mutex_);
        if (options_.timeout) {
            if (!stopped_cv_.wait_for(lock, *options_.timeout, [&] { return exit_.has_value(); })) {
                lock.unlock();
                request_stop({VmExitReason::kTimeout,
                              "the VM did not end within " +
                                  std::to_string(options_.timeout->count()) + " ms"});
            }
        } else {
            stopped_cv_.wait(lock, [&] { return exit_.has_value(); });
        }
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    vcpu_handles_.clear();

    auto since_start = [&](Clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::microseconds>(t - started_);
    };
    VmResult result;
    std::lock_guard lock(mutex_);
    result.exit = *exit_;
    result.timings.setup = since_start(vcpus_started);
    if (boot_signal_) result.timings.boot = since_start(*boot_signal_);
    result.timings.total = since_start(Clock::now());
    return result;
}

}  // namespace rkt::vmm
