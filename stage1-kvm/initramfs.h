// guest-init's initramfs: a newc cpio holding /init (the static guest-init) and /dev/console.
// Built once per guest-init binary and cached (next to the stage1 when it is writable, else in
// the data directory), never per pod.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rkt::kvm {

namespace stdfs = std::filesystem;

// The cpio archive (uncompressed newc: the kernel unpacks it without a decompressor).
std::string make_initramfs(const std::string& guest_init);

// The cached initramfs for `guest_init`, building it in the first of `cache_dirs` that can be
// written when no cached copy matches. The file name carries a hash of guest-init, so a rebuilt
// guest-init gets a new one. Throws rkt::Error when guest-init is missing or nothing is writable.
stdfs::path cached_initramfs(const stdfs::path& guest_init,
                             const std::vector<stdfs::path>& cache_dirs);

}  // namespace rkt::kvm
