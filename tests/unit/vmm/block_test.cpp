#include "vmm/virtio/block.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_support.h"

using namespace rkt::vmm;
using namespace rkt::vmm::test;

namespace {

constexpr uint32_t kIn = 0, kOut = 1, kFlush = 4, kGetId = 8;
constexpr uint8_t kOk = 0, kIoErr = 1, kUnsupported = 2;
constexpr uint64_t kHeader = 0x40000, kData = 0x50000, kStatus = 0x60000;

class BlockTest : public ::testing::Test {
protected:
    void start(bool read_only, size_t disk_bytes = 8 * 512, std::string serial = "") {
        std::vector<uint8_t> disk(disk_bytes);
        for (size_t i = 0; i < disk.size(); ++i) disk[i] = static_cast<uint8_t>(i / 512 + 1);
        write_bytes(dir.path("disk.img"), disk);
        transport =
            std::make_unique<MmioTransport>(mem,
                                            std::make_unique<BlockDevice>(BlockDiskConfig{
                                                dir.path("disk.img").string(), read_only, serial}),
                                            irq);
        driver = std::make_unique<TestDriver>(mem, *transport);
        ASSERT_EQ(driver->initialize(read_only ? 1ull << 5 : 1ull << 9, 1) & 15, 15u);
    }
    // Submits one request and returns (status byte, used length).
    std::pair<uint8_t, uint32_t> request(uint32_t type, uint64_t sector, std::vector<Buffer> data) {
        uint8_t header[16] = {};
        std::memcpy(header, &type, 4);
        std::memcpy(header + 8, &sector, 8);
        EXPECT_TRUE(mem.write(kHeader, header));
        EXPECT_TRUE(mem.write_obj<uint8_t>(kStatus, 0xee));
        std::vector<Buffer> chain{{kHeader, 16, false}};
        chain.insert(chain.end(), data.begin(), data.end());
        chain.push_back({kStatus, 1, true});
        driver->submit(0, chain);
        driver->notify(0);
        auto used = driver->next_used(0);
        EXPECT_TRUE(used.has_value());
        return {mem.read_obj<uint8_t>(kStatus).value(), used ? used->second : 0};
    }
    TempDir dir;
    GuestMemory mem{{{0, 1 << 20}}};
    CountingLine irq;
    std::unique_ptr<MmioTransport> transport;
    std::unique_ptr<TestDriver> driver;
};

}  // namespace

TEST_F(BlockTest, ReadsSectors) {
    start(true);
    auto [status, len] = request(kIn, 2, {{kData, 1024, true}});
    EXPECT_EQ(status, kOk);
    EXPECT_EQ(len, 1025u);
    EXPECT_EQ(mem.read_obj<uint8_t>(kData).value(), 3);
    EXPECT_EQ(mem.read_obj<uint8_t>(kData + 1023).value(), 4);
    EXPECT_EQ(irq.count, 1);
}

TEST_F(BlockTest, ReadScatteredAcrossDescriptors) {
    start(true);
    auto [status, len] = request(kIn, 0, {{kData, 100, true}, {kData + 0x1000, 412, true}});
    EXPECT_EQ(status, kOk);
    EXPECT_EQ(len, 513u);
    EXPECT_EQ(mem.read_obj<uint8_t>(kData + 0x1000 + 411).value(), 1);
}

TEST_F(BlockTest, ReadPastTheEndFails) {
    start(true);
    EXPECT_EQ(request(kIn, 7, {{kData, 1024, true}}).first, kIoErr);
    EXPECT_EQ(request(kIn, ~0ull / 256, {{kData, 512, true}}).first, kIoErr);
    EXPECT_EQ(request(kIn, 0, {{kData, 100, true}}).first, kIoErr);  // not whole sectors
}

TEST_F(BlockTest, WritesReachTheFile) {
    start(false);
    std::vector<uint8_t> data(512, 0x77);
    ASSERT_TRUE(mem.write(kData, data));
    auto [status, len] = request(kOut, 3, {{kData, 512, false}});
    EXPECT_EQ(status, kOk);
    EXPECT_EQ(len, 1u);
    auto disk = read_bytes(dir.path("disk.img"));
    EXPECT_EQ(disk[3 * 512], 0x77);
    EXPECT_EQ(disk[3 * 512 + 511], 0x77);
    EXPECT_EQ(disk[4 * 512], 5);
    EXPECT_EQ(request(kFlush, 0, {}).first, kOk);
}

TEST_F(BlockTest, ReadOnlyDiskRefusesWrites) {
    start(true);
    std::vector<uint8_t> data(512, 0x77);
    ASSERT_TRUE(mem.write(kData, data));
    EXPECT_EQ(request(kOut, 0, {{kData, 512, false}}).first, kIoErr);
    EXPECT_EQ(read_bytes(dir.path("disk.img"))[0], 1);
}

TEST_F(BlockTest, GetIdAndUnknownRequests) {
    start(true, 4096, "app-redis");
    auto [status, len] = request(kGetId, 0, {{kData, 20, true}});
    EXPECT_EQ(status, kOk);
    EXPECT_EQ(len, 21u);
    std::vector<uint8_t> id(20);
    ASSERT_TRUE(mem.read(kData, id));
    EXPECT_EQ(std::string(reinterpret_cast<char*>(id.data())), "app-redis");
    EXPECT_EQ(request(99, 0, {}).first, kUnsupported);
}

TEST_F(BlockTest, MalformedRequestsAreReturnedEmpty) {
    start(true);
    // No status byte at all.
    driver->submit(0, {{kHeader, 16, false}});
    driver->notify(0);
    auto used = driver->next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 0u);
    // Data buffer outside guest RAM: refused, guest RAM untouched, device still serves.
    driver->submit(0, {{kHeader, 16, false}, {0xfff00000, 512, true}, {kStatus, 1, true}});
    driver->notify(0);
    used = driver->next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 0u);
    EXPECT_EQ(request(kIn, 0, {{kData, 512, true}}).first, kOk);
}

TEST_F(BlockTest, OversizedRequestIsRefused) {
    start(true, 64 << 20);
    // 17 MiB of data: past the per-request cap, refused before any I/O.
    GuestMemory big({{0, 64 << 20}});
    auto t = std::make_unique<MmioTransport>(
        big,
        std::make_unique<BlockDevice>(BlockDiskConfig{dir.path("disk.img").string(), true, ""}),
        irq);
    TestDriver d(big, *t);
    d.initialize(1ull << 5, 1);
    d.submit(0, {{kHeader, 16, false}, {0x100000, 17u << 20, true}, {kStatus, 1, true}});
    d.notify(0);
    auto used = d.next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 0u);
}

TEST_F(BlockTest, CorruptRingAsksForReset) {
    start(true);
    driver->set_available_index(0, 100);
    driver->notify(0);
    EXPECT_TRUE(driver->read(reg::kStatus) & TestDriver::kNeedsReset);
}

TEST(BlockDevice, MissingDiskIsAnError) {
    EXPECT_THROW(BlockDevice(BlockDiskConfig{"/nonexistent/disk.img", true, ""}), rkt::Error);
}
