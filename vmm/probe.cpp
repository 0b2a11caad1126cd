#include "vmm/probe.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "vmm/flat_guest.h"
#include "vmm/machine.h"

namespace rkt::vmm {
namespace {

// Why two steps. kvm_pvm (the backend of these development machines) runs guest supervisor
// code through an instruction emulator that cannot execute a Linux kernel (platform notes:
// xrstor, int3, clac, popcnt stop it with KVM_EXIT_INTERNAL_ERROR). Seeing the module loaded
// answers in one stat(). For any other backend, a guest that executes one of those instructions
// in ring 0 answers by behaviour (a few ms: VM creation dominates), so an unknown nested or
// emulating backend is caught too, and real VMX/SVM passes.
constexpr const char* kPvmModule = "kvm_pvm";
constexpr uint64_t kProbePort = 0x3f0;
constexpr uint8_t kProbeDone = 0x5a;

class ProbePort : public BusDevice {
public:
    explicit ProbePort(Machine& machine) : machine_(machine) {}
    void read(uint64_t, std::span<uint8_t> data) override {
        for (auto& b : data) b = 0;
    }
    void write(uint64_t, std::span<const uint8_t> data) override {
        if (!data.empty() && data[0] == kProbeDone)
            machine_.request_stop({VmExitReason::kGuestPowerOff, "probe guest finished"});
        else
            machine_.request_stop({VmExitReason::kVmmError, "probe guest computed a wrong value"});
    }

private:
    Machine& machine_;
};

std::string cache_key() {
    std::string boot_id =
        strings::trim(fs::read_file_if_exists("/proc/sys/kernel/random/boot_id").value_or(""));
    utsname u{};
    ::uname(&u);
    return boot_id + "/" + u.release;
}

// 64-bit: popcnt in ring 0, then report the result on the probe port.
constexpr uint8_t kProbeCode[] = {
    0x48, 0xc7, 0xc3, 0xff, 0x00, 0x00, 0x00,  // mov rbx, 0xff
    0xf3, 0x48, 0x0f, 0xb8, 0xc3,              // popcnt rax, rbx      (rax = 8)
    0x04, 0x52,                                // add al, 0x52         (al = 0x5a)
    0x66, 0xba, 0xf0, 0x03,                    // mov dx, 0x3f0
    0xee,                                      // out dx, al
    0xf4,                                      // hlt
    0xeb, 0xfd,                                // jmp hlt
};

std::optional<EngineProbe> read_cache(const std::filesystem::path& file, const std::string& key) {
    try {
        auto text = fs::read_file_if_exists(file);
        if (!text) return std::nullopt;
        auto j = nlohmann::json::parse(*text);
        if (j.at("key").get<std::string>() != key) return std::nullopt;
        return EngineProbe{j.at("usable").get<bool>(), j.at("reason").get<std::string>()};
    } catch (const std::exception&) {
        return std::nullopt;  // unreadable or stale format: probe again
    }
}

void write_cache(const std::filesystem::path& dir, const std::filesystem::path& file,
                 const std::string& key, const EngineProbe& probe) {
    try {
        fs::make_dirs(dir, 0755);
        nlohmann::json j{{"key", key}, {"usable", probe.usable}, {"reason", probe.reason}};
        fs::write_file_atomic(file, j.dump() + "\n", 0644);
    } catch (const std::exception&) {
        // Caching is an optimisation: an unwritable directory just means probing next time.
    }
}

}  // namespace

EngineProbe run_native_execution_probe(const std::string& kvm_device) {
    try {
        KvmSystem kvm(kvm_device);
        MachineOptions options;
        options.memory_bytes = 2u << 20;
        // Milliseconds on hardware; generous for slow (emulated) hosts.
        options.timeout = std::chrono::milliseconds(10000);
        Machine machine(kvm, options);
        machine.pio_bus().insert(kProbePort, 1, std::make_shared<ProbePort>(machine));
        load_flat_guest(kvm, machine, kProbeCode, 0x1000, FlatMode::kLong64);
        VmResult r = machine.run();
        if (r.exit.reason == VmExitReason::kGuestPowerOff)
            return {true, "KVM runs guest kernel code natively"};
        return {false, "KVM cannot run guest kernel code natively here (" + r.exit.message + ")"};
    } catch (const Error& e) {
        return {false, e.what()};
    }
}

EngineProbe probe_builtin_engine_uncached(const ProbeOptions& options) {
    if (::access(options.kvm_device.c_str(), F_OK) != 0)
        return {false, "this host has no " + options.kvm_device};
    try {
        KvmSystem kvm(options.kvm_device);
        kvm.require(KvmSystem::vmm_requirements());
    } catch (const Error& e) {
        return {false, e.what()};
    }
    std::error_code ec;
    if (std::filesystem::exists(options.sys_module_dir / kPvmModule, ec))
        return {false, std::string("this host's KVM is ") + kPvmModule +
                           " (paravirtual nested KVM), which cannot run an unmodified Linux guest"};
    return run_native_execution_probe(options.kvm_device);
}

EngineProbe probe_builtin_engine(const ProbeOptions& options) {
    if (!options.cache_dir) return probe_builtin_engine_uncached(options);
    std::string key = cache_key() + "/" + options.kvm_device;
    auto file = *options.cache_dir / "builtin-engine-probe.json";
    if (auto cached = read_cache(file, key)) return *cached;
    EngineProbe probe = probe_builtin_engine_uncached(options);
    write_cache(*options.cache_dir, file, key, probe);
    return probe;
}

}  // namespace rkt::vmm
