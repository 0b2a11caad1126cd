// Where things live in the guest-physical address space of an x86-64 VM. Low memory follows the
// layout Linux's direct boot expects (and Firecracker uses); devices live in the 1 GiB hole below
// 4 GiB, so RAM beyond 3 GiB continues at 4 GiB.
#pragma once

#include <cstdint>

namespace rkt::vmm::x86 {

inline constexpr uint64_t kPageSize = 0x1000;

// Boot structures in the first 1 MiB.
inline constexpr uint64_t kGdtAddress = 0x500;  // 5 entries: up to 0x528
inline constexpr uint64_t kIdtAddress = 0x530;  // an empty IDT (limit 7)
inline constexpr uint64_t kPvhStartInfoAddress = 0x6000;
inline constexpr uint64_t kPvhModuleListAddress = 0x6040;
inline constexpr uint64_t kPvhMemoryMapAddress = 0x7000;  // PVH only: no zero page then
inline constexpr uint64_t kZeroPageAddress = 0x7000;
inline constexpr uint64_t kBootStackPointer = 0x8ff0;
inline constexpr uint64_t kPml4Address = 0x9000;
inline constexpr uint64_t kPdptAddress = 0xa000;
inline constexpr uint64_t kPdAddress = 0xb000;  // 512 x 2 MiB: the first 1 GiB
inline constexpr uint64_t kIdentityMappedSize = 1ull << 30;
inline constexpr uint64_t kCommandLineAddress = 0x20000;
inline constexpr uint64_t kCommandLineMax = 2048;  // x86 COMMAND_LINE_SIZE, with the NUL
inline constexpr uint64_t kEbdaAddress = 0x9fc00;  // MP table; reserved up to 1 MiB
inline constexpr uint64_t kHighMemoryStart = 0x100000;
inline constexpr uint64_t kBzImageLoadAddress = 0x100000;

// The MMIO hole: [3 GiB, 4 GiB).
inline constexpr uint64_t kMmioHoleStart = 0xc0000000;
inline constexpr uint64_t kMmioHoleEnd = 0x100000000;
inline constexpr uint64_t kBootTimerMmioAddress = 0xc0000000;
inline constexpr uint64_t kVirtioMmioStart = 0xc0001000;
inline constexpr uint64_t kVirtioMmioStride = 0x1000;
inline constexpr uint64_t kIoapicAddress = 0xfec00000;
inline constexpr uint64_t kLapicAddress = 0xfee00000;
// Three pages for the TSS KVM needs on Intel, and one for its identity-map table, just below
// the BIOS area and outside RAM.
inline constexpr uint64_t kIdentityMapAddress = 0xfffbc000;
inline constexpr uint64_t kTssAddress = 0xfffbd000;

// Legacy ports and interrupt lines.
inline constexpr uint64_t kSerialPort = 0x3f8;
inline constexpr uint32_t kSerialGsi = 4;
inline constexpr uint32_t kKeyboardGsi = 1;
inline constexpr uint64_t kBootTimerPort = 0x3f0;
// virtio-mmio devices get one GSI each from here up to the last IOAPIC pin.
inline constexpr uint32_t kFirstDeviceGsi = 5;
inline constexpr uint32_t kLastGsi = 23;
inline constexpr uint32_t kIoapicPins = 24;

// The MP table must fit in the last KiB of base memory; 32 vCPUs do.
inline constexpr uint32_t kMaxVcpus = 32;

}  // namespace rkt::vmm::x86
