#include "stage1-kvm/engine_choice.h"

#include "common/error.h"
#include "vmm/probe.h"
#include "vmm/qemu/qemu_accel.h"

namespace rkt::kvm {

namespace {

// `why_not_builtin` completes "the built-in VMM ..." in the notice; empty when QEMU was asked for.
EngineChoice qemu(const vmm::EngineProbe& host_kvm, const std::string& why_not_builtin) {
    vmm::qemu::AccelOptions options;
    options.host_kvm = host_kvm;
    vmm::qemu::AccelChoice accel = vmm::qemu::choose_accel(options);
    bool kvm = accel.accel == vmm::qemu::Accel::kKvm;
    EngineChoice c{make_qemu_engine(kvm), ""};
    if (!why_not_builtin.empty()) {
        c.notice = "the built-in VMM " + why_not_builtin + "; using QEMU" +
                   (kvm ? "" : " with TCG (software emulation, slower)");
    } else if (!kvm) {
        c.notice = "QEMU uses TCG (software emulation, slower): " + accel.reason;
    }
    return c;
}

}  // namespace

EngineChoice choose_engine(const std::string& requested, bool host_volumes) {
    if (requested == "qemu") return qemu(vmm::probe_builtin_engine(), "");
    if (requested == "builtin") {
        vmm::EngineProbe probe = vmm::probe_builtin_engine();
        if (!probe.usable)
            throw Error("the built-in VMM cannot run on this host: " + probe.reason +
                        " (use --stage1=kvm-qemu or --stage1=kvm)");
        return {make_builtin_engine(), ""};
    }
    if (requested == "auto" || requested.empty()) {
        vmm::EngineProbe probe = vmm::probe_builtin_engine();
        if (!probe.usable) return qemu(probe, "cannot run here (" + probe.reason + ")");
        if (host_volumes)
            return qemu(probe, "has no virtio-9p for the pod's host volumes (kind=host)");
        return {make_builtin_engine(), ""};
    }
    throw Error("unknown engine \"" + requested + "\" (auto, builtin or qemu)");
}

}  // namespace rkt::kvm
