#include "vmm/kvm/guest_memory.h"

#include <gtest/gtest.h>

#include <array>
#include <limits>

#include "common/error.h"
#include "vmm/arch/x86/e820.h"

using rkt::vmm::GuestMemory;

TEST(GuestMemory, ReadsBackWhatWasWritten) {
    GuestMemory mem({{0, 1 << 20}});
    std::array<uint8_t, 4> data{1, 2, 3, 4}, out{};
    ASSERT_TRUE(mem.write(0x1000, data));
    ASSERT_TRUE(mem.read(0x1000, out));
    EXPECT_EQ(out, data);
    EXPECT_EQ(mem.read_obj<uint32_t>(0x1000).value(), 0x04030201u);
}

TEST(GuestMemory, RefusesAccessOutsideRam) {
    GuestMemory mem({{0, 0x10000}});
    std::array<uint8_t, 8> buf{};
    EXPECT_FALSE(mem.read(0x10000, buf));
    EXPECT_FALSE(mem.write(0xfffc, buf));  // straddles the end
    EXPECT_TRUE(mem.write(0xfff8, buf));   // ends exactly at the end
    EXPECT_FALSE(mem.slice(0x8000, 0x9000).has_value());
    EXPECT_FALSE(mem.contains(0x10000, 0));
}

TEST(GuestMemory, RefusesRangesThatWrapAround) {
    GuestMemory mem({{0, 0x10000}});
    uint64_t max = std::numeric_limits<uint64_t>::max();
    EXPECT_FALSE(mem.contains(max - 2, 8));
    EXPECT_FALSE(mem.contains(0x100, max));
    EXPECT_FALSE(mem.slice(8, max - 4).has_value());
}

TEST(GuestMemory, HoleBetweenRegionsIsNotMemory) {
    GuestMemory mem({{0, 0x10000}, {0x20000, 0x10000}});
    EXPECT_TRUE(mem.contains(0x20000, 0x10000));
    EXPECT_FALSE(mem.contains(0x18000, 4));
    // A range may not run from one region into the next even when they were adjacent in host
    // memory.
    EXPECT_FALSE(mem.contains(0xfff0, 0x20));
    EXPECT_EQ(mem.end_address(), 0x30000u);
    EXPECT_EQ(mem.total_size(), 0x20000u);
}

TEST(GuestMemory, RingIndexesNeedAlignment) {
    GuestMemory mem({{0, 0x1000}});
    EXPECT_TRUE(mem.store_release_u16(0x10, 7));
    EXPECT_EQ(mem.load_acquire_u16(0x10).value(), 7);
    EXPECT_FALSE(mem.load_acquire_u16(0x11).has_value());
    EXPECT_FALSE(mem.store_release_u16(0x1000, 1));
}

TEST(GuestMemory, RejectsBadLayouts) {
    EXPECT_THROW(GuestMemory({}), rkt::Error);
    EXPECT_THROW(GuestMemory({{0, 100}}), rkt::Error);
    EXPECT_THROW(GuestMemory({{0x2000, 0x1000}, {0x1000, 0x1000}}), rkt::Error);
    EXPECT_THROW(GuestMemory({{0, 0x2000}, {0x1000, 0x1000}}), rkt::Error);
}

TEST(GuestMemory, LargeLayoutSkipsTheMmioHole) {
    auto ranges = rkt::vmm::x86::ram_layout(4ull << 30);
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0].guest_address, 0u);
    EXPECT_EQ(ranges[0].size, 3ull << 30);
    EXPECT_EQ(ranges[1].guest_address, 4ull << 30);
    EXPECT_EQ(ranges[1].size, 1ull << 30);
    // Mapped with MAP_NORESERVE: 4 GiB costs nothing until touched.
    GuestMemory mem(ranges);
    EXPECT_FALSE(mem.contains(0xc0000000, 1));
    EXPECT_TRUE(mem.contains((5ull << 30) - 1, 1));
}
