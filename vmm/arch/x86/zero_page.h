// Linux's "zero page" (struct boot_params, Documentation/arch/x86/boot.rst and zero-page.rst):
// 4 KiB the 64-bit entry reads through %rsi. Built as bytes at documented offsets so nothing
// depends on a copy of the kernel's struct layout.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "vmm/arch/x86/e820.h"

namespace rkt::vmm::x86 {

// Offsets into boot_params (the setup header starts at 0x1f1).
namespace zp {
inline constexpr size_t kExtRamdiskImage = 0x0c0;
inline constexpr size_t kExtRamdiskSize = 0x0c4;
inline constexpr size_t kExtCmdLinePtr = 0x0c8;
inline constexpr size_t kE820Entries = 0x1e8;
inline constexpr size_t kSetupHeader = 0x1f1;
inline constexpr size_t kSetupSects = 0x1f1;
inline constexpr size_t kBootFlag = 0x1fe;
inline constexpr size_t kJump = 0x200;
inline constexpr size_t kHeaderMagic = 0x202;
inline constexpr size_t kVersion = 0x206;
inline constexpr size_t kTypeOfLoader = 0x210;
inline constexpr size_t kLoadFlags = 0x211;
inline constexpr size_t kCode32Start = 0x214;
inline constexpr size_t kRamdiskImage = 0x218;
inline constexpr size_t kRamdiskSize = 0x21c;
inline constexpr size_t kHeapEndPtr = 0x224;
inline constexpr size_t kCmdLinePtr = 0x228;
inline constexpr size_t kInitrdAddrMax = 0x22c;
inline constexpr size_t kKernelAlignment = 0x230;
inline constexpr size_t kRelocatableKernel = 0x234;
inline constexpr size_t kXLoadFlags = 0x236;
inline constexpr size_t kCmdlineSize = 0x238;
inline constexpr size_t kPrefAddress = 0x258;
inline constexpr size_t kInitSize = 0x260;
inline constexpr size_t kSetupHeaderMaxEnd = 0x280;  // header fields end before this
inline constexpr size_t kE820Table = 0x2d0;
inline constexpr size_t kE820MaxEntries = 128;
inline constexpr size_t kE820EntrySize = 20;

inline constexpr uint16_t kBootFlagValue = 0xaa55;
inline constexpr uint32_t kHeaderMagicValue = 0x53726448;  // "HdrS"
inline constexpr uint8_t kLoaderUndefined = 0xff;
inline constexpr uint8_t kLoadedHigh = 0x01;
inline constexpr uint8_t kCanUseHeap = 0x80;
inline constexpr uint16_t kXlfKernel64 = 0x0001;
}  // namespace zp

class ZeroPage {
public:
    static constexpr size_t kSize = 4096;

    ZeroPage() { bytes_.fill(0); }

    // Copies a bzImage's setup header (from offset 0x1f1 of the image) into place.
    void set_setup_header(std::span<const uint8_t> header);
    // Fills in what a boot loader owns: loader type, boot flag and magic, command line, initrd,
    // memory map.
    void set_loader_fields(uint64_t cmdline_address, uint32_t cmdline_size);
    void set_initrd(uint64_t address, uint64_t size);
    void set_e820(const std::vector<E820Entry>& map);

    template <typename T>
    T get(size_t offset) const {
        T v;
        std::memcpy(&v, bytes_.data() + offset, sizeof v);
        return v;
    }
    template <typename T>
    void put(size_t offset, T value) {
        std::memcpy(bytes_.data() + offset, &value, sizeof value);
    }
    std::span<const uint8_t> bytes() const { return bytes_; }

private:
    std::array<uint8_t, kSize> bytes_;
};

}  // namespace rkt::vmm::x86
