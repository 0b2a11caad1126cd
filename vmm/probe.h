// Can this host's KVM run an unmodified Linux guest with the built-in VMM? The kvm stage1 asks
// before it boots a pod, and says in one line why it falls back to QEMU when the answer is no.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace rkt::vmm {

struct EngineProbe {
    bool usable = false;
    std::string reason;  // one line: why not (or which backend when usable)
};

struct ProbeOptions {
    std::string kvm_device = "/dev/kvm";
    std::filesystem::path sys_module_dir = "/sys/module";
    // Where the answer is cached, keyed by boot id and kernel release; nullopt: no cache.
    std::optional<std::filesystem::path> cache_dir = std::filesystem::path("/run/rkt");
};

// Cached: the first call on a boot does the work (at most a few milliseconds).
EngineProbe probe_builtin_engine(const ProbeOptions& options = {});
// Always does the work.
EngineProbe probe_builtin_engine_uncached(const ProbeOptions& options = {});
// Runs a tiny 64-bit guest that executes instructions a paravirtual backend (kvm_pvm) has to
// emulate and cannot; true when it reaches its final port write.
EngineProbe run_native_execution_probe(const std::string& kvm_device);

}  // namespace rkt::vmm
