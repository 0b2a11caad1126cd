// Which engine runs a pod's VM (--engine=auto|builtin|qemu) and which accelerator QEMU gets, with
// the one-line notice that says why when it is not the first choice.
#pragma once

#include <memory>
#include <string>

#include "stage1-kvm/vm_engine.h"

namespace rkt::kvm {

struct EngineChoice {
    std::unique_ptr<VmEngine> engine;
    std::string notice;  // empty when the engine is the one asked for, at full speed
};

// auto (or empty): the built-in VMM when this host's KVM can run an unmodified Linux guest and
// the pod needs no host volumes (virtio-9p, which only QEMU has), else QEMU. builtin: the
// built-in VMM, or an Error saying why it cannot run here. qemu: QEMU. QEMU uses KVM when it
// can, else TCG (said in the notice).
EngineChoice choose_engine(const std::string& requested, bool host_volumes);

}  // namespace rkt::kvm
