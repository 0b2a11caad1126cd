// e820, zero page, page tables, GDT, MP table and the whole Linux boot preparation.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <numeric>

#include "common/error.h"
#include "common/fs.h"
#include "images.h"
#include "test_support.h"
#include "vmm/arch/x86/e820.h"
#include "vmm/arch/x86/gdt.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/linux_boot.h"
#include "vmm/arch/x86/mptable.h"
#include "vmm/arch/x86/page_tables.h"
#include "vmm/arch/x86/vcpu_setup.h"
#include "vmm/arch/x86/zero_page.h"

using namespace rkt::vmm;
using namespace rkt::vmm::x86;
using rkt::vmm::test::TempDir;

TEST(E820, SmallGuest) {
    auto map = build_e820(ram_layout(128 << 20));
    std::vector<E820Entry> expected = {
        {0, kEbdaAddress, E820Type::kRam},
        {kEbdaAddress, kHighMemoryStart - kEbdaAddress, E820Type::kReserved},
        {kHighMemoryStart, (128 << 20) - kHighMemoryStart, E820Type::kRam},
    };
    EXPECT_EQ(map, expected);
}

TEST(E820, LargeGuestSkipsTheHole) {
    auto map = build_e820(ram_layout(6ull << 30));
    ASSERT_EQ(map.size(), 4u);
    EXPECT_EQ(map[2].address, kHighMemoryStart);
    EXPECT_EQ(map[2].address + map[2].size, kMmioHoleStart);
    EXPECT_EQ(map[3].address, kMmioHoleEnd);
    EXPECT_EQ(map[3].size, 3ull << 30);
    for (const auto& e : map) {
        bool overlaps_hole = e.address < kMmioHoleEnd && e.address + e.size > kMmioHoleStart;
        EXPECT_FALSE(overlaps_hole && e.type == E820Type::kRam);
    }
}

TEST(ZeroPage, LoaderFieldsAndMemoryMap) {
    ZeroPage zp;
    zp.set_loader_fields(kCommandLineAddress, 2047);
    zp.set_initrd(0x3000000, 12345);
    zp.set_e820(build_e820(ram_layout(64 << 20)));
    EXPECT_EQ(zp.get<uint16_t>(zp::kBootFlag), 0xaa55);
    EXPECT_EQ(zp.get<uint32_t>(zp::kHeaderMagic), 0x53726448u);
    EXPECT_EQ(zp.get<uint8_t>(zp::kTypeOfLoader), 0xff);
    EXPECT_EQ(zp.get<uint32_t>(zp::kCmdLinePtr), kCommandLineAddress);
    EXPECT_EQ(zp.get<uint32_t>(zp::kRamdiskImage), 0x3000000u);
    EXPECT_EQ(zp.get<uint32_t>(zp::kRamdiskSize), 12345u);
    EXPECT_EQ(zp.get<uint32_t>(zp::kKernelAlignment), 0x1000000u);
    EXPECT_EQ(zp.get<uint8_t>(zp::kE820Entries), 3);
    EXPECT_EQ(zp.get<uint64_t>(zp::kE820Table + 2 * zp::kE820EntrySize), kHighMemoryStart);
    EXPECT_EQ(zp.get<uint32_t>(zp::kE820Table + 2 * zp::kE820EntrySize + 16), 1u);
    EXPECT_EQ(zp.get<uint32_t>(zp::kE820Table + zp::kE820EntrySize + 16), 2u);
}

TEST(ZeroPage, TooManyMemoryMapEntries) {
    ZeroPage zp;
    std::vector<E820Entry> map(200, {0, 4096, E820Type::kRam});
    EXPECT_THROW(zp.set_e820(map), rkt::Error);
}

TEST(PageTables, IdentityMapTheFirstGigabyte) {
    auto t = build_identity_page_tables();
    EXPECT_EQ(t.pml4[0], kPdptAddress | 3);
    EXPECT_EQ(t.pdpt[0], kPdAddress | 3);
    ASSERT_EQ(t.pds.size(), 1u);
    for (uint64_t i = 0; i < 512; ++i) EXPECT_EQ(t.pds[0][i], (i << 21) | 0x83);
    EXPECT_EQ(t.pml4[1], 0u);
    EXPECT_EQ(t.pdpt[1], 0u);
    auto four = build_identity_page_tables(4);
    ASSERT_EQ(four.pds.size(), 4u);
    EXPECT_EQ(four.pdpt[3], (kPdAddress + 3 * 0x1000) | 3);
    EXPECT_EQ(four.pds[3][511], ((4ull << 30) - (2 << 20)) | 0x83);
    EXPECT_THROW(build_identity_page_tables(5), rkt::Error);
    GuestMemory mem({{0, 1 << 20}});
    write_identity_page_tables(mem);
    EXPECT_EQ(mem.read_obj<uint64_t>(kPdAddress + 8 * 5).value(), (5ull << 21) | 0x83);
    GuestMemory tiny({{0, 0x4000}});
    EXPECT_THROW(write_identity_page_tables(tiny), rkt::Error);
}

TEST(Gdt, DescriptorsEncodeAndDecode) {
    EXPECT_EQ(gdt_entry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffull);
    EXPECT_EQ(gdt_entry(0xc093, 0, 0xfffff), 0x00cf93000000ffffull);
    auto gdt = long_mode_gdt();
    kvm_segment cs = gdt.code();
    EXPECT_EQ(cs.selector, 0x10);
    EXPECT_EQ(cs.l, 1);
    EXPECT_EQ(cs.db, 0);
    EXPECT_EQ(cs.g, 1);
    EXPECT_EQ(cs.limit, 0xffffffffu);
    EXPECT_EQ(cs.type, 0xb);
    EXPECT_EQ(cs.present, 1);
    kvm_segment ds = gdt.data();
    EXPECT_EQ(ds.selector, 0x18);
    EXPECT_EQ(ds.db, 1);
    EXPECT_EQ(ds.type, 3);
    EXPECT_EQ(gdt.tss().selector, 0x20);
    kvm_segment cs32 = protected_mode_gdt().code();
    EXPECT_EQ(cs32.l, 0);
    EXPECT_EQ(cs32.db, 1);
    EXPECT_EQ(protected_mode_gdt().tss().limit, 0x67u);
    EXPECT_EQ(segment_from_entry(gdt_entry(0x0093, 0x12345678, 0xabcd), 8).base, 0x12345678u);
}

TEST(Sregs, LongModeAndPvhEntries) {
    kvm_sregs base{};
    base.cr0 = 0x60000010;  // what KVM reports at reset: CD, NW, ET
    auto s = entry_sregs(base, EntryMode::kLinux64);
    EXPECT_EQ(s.cr0 & 0x80000001, 0x80000001u);  // PG, PE
    EXPECT_EQ(s.cr0 & 0x60000000, 0u);           // caches on
    EXPECT_EQ(s.cr3, kPml4Address);
    EXPECT_TRUE(s.cr4 & 0x20);
    EXPECT_EQ(s.efer & 0x500, 0x500u);
    EXPECT_EQ(s.gdt.base, kGdtAddress);
    auto p = entry_sregs(base, EntryMode::kPvh);
    EXPECT_EQ(p.cr0 & 0x80000000, 0u);
    EXPECT_EQ(p.cr0 & 1, 1u);
    EXPECT_EQ(p.cr4, 0u);
    EXPECT_EQ(p.efer, 0u);
    auto r = entry_regs({EntryMode::kLinux64, 0x1000000, kZeroPageAddress});
    EXPECT_EQ(r.rip, 0x1000000u);
    EXPECT_EQ(r.rsi, kZeroPageAddress);
    EXPECT_EQ(r.rflags, 2u);
    auto rp = entry_regs({EntryMode::kPvh, 0x1000040, kPvhStartInfoAddress});
    EXPECT_EQ(rp.rbx, kPvhStartInfoAddress);
}

TEST(Lapic, LintPinsCarryExtIntAndNmi) {
    kvm_lapic_state s{};
    uint32_t masked = 0x10000;
    std::memcpy(s.regs + 0x350, &masked, 4);
    auto out = with_lint_pins(s);
    uint32_t lint0, lint1;
    std::memcpy(&lint0, out.regs + 0x350, 4);
    std::memcpy(&lint1, out.regs + 0x360, 4);
    EXPECT_EQ((lint0 >> 8) & 7, 7u);
    EXPECT_EQ((lint1 >> 8) & 7, 4u);
    EXPECT_EQ(lint0 & 0x10000, 0x10000u);  // other bits kept
}

TEST(BootMsrs, IncludeMtrrDefaultWriteBack) {
    bool found = false;
    for (const auto& m : boot_msrs())
        if (m.index == 0x2ff) found = m.data == 0x806;
    EXPECT_TRUE(found);
}

namespace {
uint8_t byte_sum(const uint8_t* p, size_t n) {
    return static_cast<uint8_t>(std::accumulate(p, p + n, 0u));
}
}  // namespace

TEST(MpTable, ChecksumsAndEntries) {
    for (uint32_t cpus : {1u, 2u, 32u}) {
        auto t = build_mptable(kEbdaAddress, cpus);
        ASSERT_GE(t.size(), 16u + 44u);
        EXPECT_EQ(std::memcmp(t.data(), "_MP_", 4), 0);
        EXPECT_EQ(byte_sum(t.data(), 16), 0);
        uint32_t table_address;
        std::memcpy(&table_address, t.data() + 4, 4);
        EXPECT_EQ(table_address, kEbdaAddress + 16);
        const uint8_t* table = t.data() + 16;
        EXPECT_EQ(std::memcmp(table, "PCMP", 4), 0);
        uint16_t length, count;
        std::memcpy(&length, table + 4, 2);
        std::memcpy(&count, table + 34, 2);
        EXPECT_EQ(length, t.size() - 16);
        EXPECT_EQ(byte_sum(table, length), 0);
        EXPECT_EQ(count, cpus + 1 + 1 + kIoapicPins + 2);
        EXPECT_LE(kEbdaAddress + t.size(), 0xa0000u);
        // First processor entry: APIC id 0, enabled and the boot processor.
        EXPECT_EQ(table[44], 0);
        EXPECT_EQ(table[45], 0);
        EXPECT_EQ(table[47], 3);
    }
    EXPECT_THROW(build_mptable(kEbdaAddress, 0), rkt::Error);
    EXPECT_THROW(build_mptable(kEbdaAddress, kMaxVcpus + 1), rkt::Error);
}

TEST(LinuxBoot, PreparesTheZeroPageCommandLineAndInitrd) {
    TempDir dir;
    std::vector<uint8_t> text(4096, 0x90);
    test::write_bytes(dir.path("vmlinux"),
                      test::make_elf(0x1000000, {{0x1000000, text, 0x200000}}));
    test::write_bytes(dir.path("initrd"), std::vector<uint8_t>(5000, 0x42));
    auto kernel = rkt::fs::open_file(dir.path("vmlinux"), O_RDONLY);
    auto initrd = rkt::fs::open_file(dir.path("initrd"), O_RDONLY);
    GuestMemory mem(ram_layout(64 << 20));
    auto r = prepare_linux_boot(
        mem, {kernel.get(), initrd.get(), "console=ttyS0 quiet", 2, BootProtocol::kAuto});
    EXPECT_EQ(r.entry.mode, EntryMode::kLinux64);
    EXPECT_EQ(r.entry.rip, 0x1000000u);
    EXPECT_EQ(r.entry.boot_info, kZeroPageAddress);
    ASSERT_TRUE(r.initrd.has_value());
    EXPECT_GE(r.initrd->address, 0x1200000u);

    std::vector<uint8_t> cmdline(20);
    ASSERT_TRUE(mem.read(kCommandLineAddress, cmdline));
    EXPECT_STREQ(reinterpret_cast<const char*>(cmdline.data()), "console=ttyS0 quiet");
    EXPECT_EQ(mem.read_obj<uint32_t>(kZeroPageAddress + zp::kCmdLinePtr).value(),
              kCommandLineAddress);
    EXPECT_EQ(mem.read_obj<uint32_t>(kZeroPageAddress + zp::kRamdiskImage).value(),
              r.initrd->address);
    EXPECT_EQ(mem.read_obj<uint8_t>(kZeroPageAddress + zp::kE820Entries).value(), 3);
    EXPECT_EQ(mem.read_obj<uint64_t>(kPml4Address).value(), kPdptAddress | 3);
    std::array<char, 4> mp{};
    ASSERT_TRUE(mem.read(kEbdaAddress, {reinterpret_cast<uint8_t*>(mp.data()), 4}));
    EXPECT_EQ(std::string(mp.data(), 4), "_MP_");
}

TEST(LinuxBoot, CommandLineTooLongIsRefused) {
    TempDir dir;
    test::write_bytes(dir.path("vmlinux"),
                      test::make_elf(0x1000000, {{0x1000000, std::vector<uint8_t>(64, 1), 64}}));
    auto kernel = rkt::fs::open_file(dir.path("vmlinux"), O_RDONLY);
    GuestMemory mem(ram_layout(64 << 20));
    EXPECT_THROW(
        prepare_linux_boot(mem, {kernel.get(), -1, std::string(3000, 'a'), 1, BootProtocol::kAuto}),
        rkt::Error);
}

TEST(LinuxBoot, PvhUsesTheStartInfo) {
    TempDir dir;
    test::write_bytes(
        dir.path("vmlinux"),
        test::make_elf(0x1000000, {{0x1000000, std::vector<uint8_t>(64, 1), 64}}, 0x1000010));
    test::write_bytes(dir.path("initrd"), std::vector<uint8_t>(100, 7));
    auto kernel = rkt::fs::open_file(dir.path("vmlinux"), O_RDONLY);
    auto initrd = rkt::fs::open_file(dir.path("initrd"), O_RDONLY);
    GuestMemory mem(ram_layout(64 << 20));
    auto r = prepare_linux_boot(mem, {kernel.get(), initrd.get(), "quiet", 1, BootProtocol::kPvh});
    EXPECT_EQ(r.entry.mode, EntryMode::kPvh);
    EXPECT_EQ(r.entry.rip, 0x1000010u);
    EXPECT_EQ(r.entry.boot_info, kPvhStartInfoAddress);
    EXPECT_EQ(mem.read_obj<uint32_t>(kPvhStartInfoAddress).value(), 0x336ec578u);
    EXPECT_EQ(mem.read_obj<uint32_t>(kPvhStartInfoAddress + 12).value(), 1u);  // modules
    EXPECT_EQ(mem.read_obj<uint64_t>(kPvhStartInfoAddress + 24).value(), kCommandLineAddress);
    EXPECT_EQ(mem.read_obj<uint32_t>(kPvhStartInfoAddress + 48).value(), 3u);  // memmap entries
    EXPECT_EQ(mem.read_obj<uint64_t>(kPvhModuleListAddress).value(), r.initrd->address);
    EXPECT_EQ(mem.read_obj<uint64_t>(kPvhModuleListAddress + 8).value(), 100u);

    // Without the note, PVH is refused with a hint.
    test::write_bytes(dir.path("plain"),
                      test::make_elf(0x1000000, {{0x1000000, std::vector<uint8_t>(64, 1), 64}}));
    auto plain = rkt::fs::open_file(dir.path("plain"), O_RDONLY);
    EXPECT_THROW(prepare_linux_boot(mem, {plain.get(), -1, "", 1, BootProtocol::kPvh}), rkt::Error);
}
