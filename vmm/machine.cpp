#include "vmm/machine.h"

#include <signal.h>
#include <sys/epoll.h>

#include <cstdio>

#include "common/error.h"
#include "common/strings.h"
#include "vmm/arch/x86/e820.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm {
namespace {

using strings::hex;

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

void Machine::require_building(const std::string& what) const {
    if (pio_builder_.sealed())
        throw Error("cannot add " + what + ": devices are added before the VM runs");
}

InterruptLine& Machine::interrupt_line(uint32_t gsi) {
    for (auto& l : lines_)
        if (l->gsi() == gsi) return *l;
    require_building("interrupt line " + std::to_string(gsi));
    lines_.push_back(std::make_unique<IrqFdLine>(vm_, gsi));
    return *lines_.back();
}

const VirtioSlot& Machine::add_virtio_device(std::unique_ptr<VirtioDevice> device) {
    require_building("a virtio device");
    uint32_t slot = static_cast<uint32_t>(virtio_slots_.size());
    uint32_t gsi = x86::kFirstDeviceGsi + slot;
    if (gsi > x86::kLastGsi) throw Error("too many virtio devices for the interrupt lines");
    uint64_t base = x86::kVirtioMmioStart + slot * x86::kVirtioMmioStride;
    size_t queues = device->queue_count();
    device->attach(events_);
    auto transport =
        std::make_shared<MmioTransport>(memory_, std::move(device), interrupt_line(gsi));
    mmio_builder_.insert(base, MmioTransport::kSize, transport);
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
    std::string line = "virtio_mmio.device=4K@" + hex(base) + ":" + std::to_string(gsi);
    virtio_slots_.push_back({std::move(transport), base, gsi, std::move(line)});
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
        const ExitSource source{name, vcpu.run_area(), [&vcpu] { return vcpu.regs().rip; }};
        const GuestBuses buses{*pio_bus_, *mmio_bus_};
        for (;;) {
            if (vcpu.run() < 0) {
                // Kicked (or a stray signal): stop if asked to, otherwise go back in.
                std::lock_guard lock(mutex_);
                if (exit_) return;
                continue;
            }
            ExitAction action = handle_kvm_exit(source, buses, unclaimed_);
            if (!action.resumes()) {
                request_stop(std::move(*action.stop));
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
    if (pio_builder_.sealed()) throw Error("a VM runs only once");
    pio_bus_.emplace(pio_builder_.seal());
    mmio_bus_.emplace(mmio_builder_.seal());
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
