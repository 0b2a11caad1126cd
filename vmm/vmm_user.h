// The uid and gid a pod's VMM runs as: one of its own per running pod, so that no two VMMs
// (nor a VMM and anything else on the host) share an identity. They come from a range no other
// part of rkt hands out (host users are below 65536; --private-users ranges end at 0x7FFFFFFF):
// kFirstVmmId + slot, slot < kVmmIdSlots, the same number for the uid and the gid. A slot is
// taken by holding an exclusive flock on `<lock_dir>/<slot>` for as long as the pod runs; the
// kernel releases it when the holder dies, however it dies, so nothing is left to clean up.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>

#include "common/unique_fd.h"

namespace rkt::vmm {

inline constexpr uint32_t kFirstVmmId = 0x80000000u;  // 2147483648
inline constexpr uint32_t kVmmIdSlots = 65536;
inline const std::filesystem::path kVmmIdLockDir = "/run/rkt/vmm-ids";

// True for ids from kFirstVmmId to kFirstVmmId + kVmmIdSlots - 1.
bool is_vmm_id(uint32_t id);

class VmmUser {
public:
    // The lowest free slot. Throws rkt::Error when every slot is taken or the lock directory
    // cannot be made.
    static VmmUser acquire(const std::filesystem::path& lock_dir = kVmmIdLockDir);

    VmmUser() = default;
    bool valid() const { return lock_.valid(); }
    uid_t uid() const { return kFirstVmmId + slot_; }
    gid_t gid() const { return kFirstVmmId + slot_; }
    uint32_t slot() const { return slot_; }

private:
    UniqueFd lock_;
    uint32_t slot_ = 0;
};

}  // namespace rkt::vmm
