#include "vmm/arch/x86/kernel_loader.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/fs.h"
#include "images.h"
#include "test_support.h"
#include "vmm/arch/x86/layout.h"

using namespace rkt::vmm;
using namespace rkt::vmm::test;
using rkt::vmm::x86::KernelFormat;

namespace {

x86::LoadedKernel load(const std::vector<uint8_t>& image, const GuestMemory& mem) {
    TempDir dir;
    write_bytes(dir.path("k"), image);
    rkt::UniqueFd fd = rkt::fs::open_file(dir.path("k"), O_RDONLY);
    return x86::load_kernel(fd.get(), mem);
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
}

}  // namespace

TEST(KernelLoader, LoadsElfSegmentsAndClearsBss) {
    GuestMemory mem({{0, 32 << 20}});
    auto text = pattern(5000, 1);
    auto data = pattern(100, 9);
    // Dirty the bss range first: the loader must zero it.
    std::vector<uint8_t> junk(300, 0xcc);
    ASSERT_TRUE(mem.write(0x1200000 + 100, junk));
    auto k = load(make_elf(0x1000000, {{0x1000000, text, 5000}, {0x1200000, data, 400}}), mem);
    EXPECT_EQ(k.format, KernelFormat::kElf);
    EXPECT_EQ(k.entry_64, 0x1000000u);
    EXPECT_EQ(k.image_end, 0x1200000u + 400);
    EXPECT_FALSE(k.pvh_entry.has_value());
    std::vector<uint8_t> got(5000);
    ASSERT_TRUE(mem.read(0x1000000, got));
    EXPECT_EQ(got, text);
    std::vector<uint8_t> bss(300);
    ASSERT_TRUE(mem.read(0x1200000 + 100, bss));
    EXPECT_EQ(bss, std::vector<uint8_t>(300, 0));
}

TEST(KernelLoader, FindsThePvhNote) {
    GuestMemory mem({{0, 32 << 20}});
    auto k = load(make_elf(0x1000000, {{0x1000000, pattern(64, 0), 64}}, 0x1000040), mem);
    ASSERT_TRUE(k.pvh_entry.has_value());
    EXPECT_EQ(*k.pvh_entry, 0x1000040u);
}

TEST(KernelLoader, RefusesElfSegmentsOutsideRam) {
    GuestMemory mem({{0, 16 << 20}});
    EXPECT_THROW(load(make_elf(0x1000000, {{0x1000000, pattern(64, 0), 64}}), mem), rkt::Error);
    // Below 1 MiB would overwrite the boot structures.
    GuestMemory big({{0, 32 << 20}});
    EXPECT_THROW(load(make_elf(0x8000, {{0x8000, pattern(64, 0), 64}}), big), rkt::Error);
    // A huge memsz must not wrap around.
    EXPECT_THROW(load(make_elf(0x1000000, {{0x1000000, pattern(64, 0), ~0ull - 0x100}}), big),
                 rkt::Error);
}

TEST(KernelLoader, RefusesMalformedElf) {
    GuestMemory mem({{0, 32 << 20}});
    auto good = make_elf(0x1000000, {{0x1000000, pattern(64, 0), 64}});
    auto truncated = good;
    truncated.resize(good.size() - 10);
    EXPECT_THROW(load(truncated, mem), rkt::Error);

    auto bad_phoff = good;
    uint64_t far = 1ull << 40;
    std::memcpy(bad_phoff.data() + offsetof(Elf64_Ehdr, e_phoff), &far, 8);
    EXPECT_THROW(load(bad_phoff, mem), rkt::Error);

    auto bad_filesz = good;
    // p_filesz > p_memsz
    uint64_t big = 1000;
    std::memcpy(bad_filesz.data() + sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_filesz), &big, 8);
    EXPECT_THROW(load(bad_filesz, mem), rkt::Error);

    auto arm = good;
    uint16_t machine = EM_AARCH64;
    std::memcpy(arm.data() + offsetof(Elf64_Ehdr, e_machine), &machine, 2);
    EXPECT_THROW(load(arm, mem), rkt::Error);

    EXPECT_THROW(load(make_elf(0x5000000, {{0x1000000, pattern(64, 0), 64}}), mem), rkt::Error);
}

TEST(KernelLoader, LoadsBzImageAtOneMegabyte) {
    GuestMemory mem({{0, 64 << 20}});
    auto payload = pattern(4096, 3);
    auto k = load(make_bzimage(payload, 0x020f, 1, 8 << 20), mem);
    EXPECT_EQ(k.format, KernelFormat::kBzImage);
    EXPECT_EQ(k.entry_64, 0x100200u);
    EXPECT_EQ(k.image_end, 0x100000u + (8 << 20));
    EXPECT_EQ(k.command_line_max, 2048u);
    ASSERT_EQ(k.setup_header.size(), 0x268u - 0x1f1u);
    EXPECT_EQ(k.setup_header[0], 4);  // setup_sects
    std::vector<uint8_t> got(4096);
    ASSERT_TRUE(mem.read(0x100000, got));
    EXPECT_EQ(got, payload);
}

TEST(KernelLoader, RefusesBzImagesWithout64BitEntry) {
    GuestMemory mem({{0, 64 << 20}});
    EXPECT_THROW(load(make_bzimage(pattern(64, 0), 0x020b), mem), rkt::Error);
    EXPECT_THROW(load(make_bzimage(pattern(64, 0), 0x020f, 0), mem), rkt::Error);
    // init_size beyond guest RAM
    EXPECT_THROW(load(make_bzimage(pattern(64, 0), 0x020f, 1, 512 << 20), mem), rkt::Error);
    std::vector<uint8_t> junk(4096, 0x41);
    EXPECT_THROW(load(junk, mem), rkt::Error);
    EXPECT_THROW(load({}, mem), rkt::Error);
}

TEST(KernelLoader, PlacesTheInitrdHighAndAligned) {
    GuestMemory mem({{0, 64 << 20}});
    TempDir dir;
    auto data = pattern(10000, 5);
    write_bytes(dir.path("initrd"), data);
    rkt::UniqueFd fd = rkt::fs::open_file(dir.path("initrd"), O_RDONLY);
    auto placed = x86::load_initrd(fd.get(), mem, 0x2000000, 64 << 20);
    EXPECT_EQ(placed.size, 10000u);
    EXPECT_EQ(placed.address % 4096, 0u);
    EXPECT_GE(placed.address, 0x2000000u);
    EXPECT_LE(placed.address + placed.size, uint64_t{64 << 20});
    std::vector<uint8_t> got(10000);
    ASSERT_TRUE(mem.read(placed.address, got));
    EXPECT_EQ(got, data);
    // Does not fit above the kernel.
    EXPECT_THROW(x86::load_initrd(fd.get(), mem, (64 << 20) - 4096, 64 << 20), rkt::Error);
}

// The project's guest kernel, when the kernel build has produced it.
TEST(KernelLoader, LoadsTheProjectKernelWhenBuilt) {
    std::filesystem::path cache = RKT_KERNEL_CACHE;
    std::error_code ec;
    std::optional<std::filesystem::path> vmlinux, bzimage;
    if (std::filesystem::is_directory(cache, ec)) {
        for (const auto& e : std::filesystem::recursive_directory_iterator(cache, ec)) {
            if (e.path().filename() == "vmlinux") vmlinux = e.path();
            if (e.path().filename() == "bzImage") bzimage = e.path();
        }
    }
    if (!vmlinux && !bzimage) GTEST_SKIP() << "no guest kernel under " << cache << " yet";
    GuestMemory mem({{0, 256 << 20}});
    if (vmlinux) {
        rkt::UniqueFd fd = rkt::fs::open_file(*vmlinux, O_RDONLY);
        auto k = x86::load_kernel(fd.get(), mem);
        EXPECT_EQ(k.format, KernelFormat::kElf);
        EXPECT_GE(k.entry_64, 0x100000u);
        EXPECT_LT(k.image_end, 256u << 20);
    }
    if (bzimage) {
        rkt::UniqueFd fd = rkt::fs::open_file(*bzimage, O_RDONLY);
        auto k = x86::load_kernel(fd.get(), mem);
        EXPECT_EQ(k.format, KernelFormat::kBzImage);
        EXPECT_EQ(k.entry_64, 0x100200u);
    }
}
