// The virtio-mmio register model, driven as a guest driver would, with a real block device
// behind it.
#include "vmm/virtio/mmio_transport.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "vmm/virtio/block.h"

using namespace rkt::vmm;
using namespace rkt::vmm::test;

namespace {

class TransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        write_bytes(dir.path("disk"), std::vector<uint8_t>(8192, 0));
        transport = std::make_unique<MmioTransport>(
            mem,
            std::make_unique<BlockDevice>(BlockDiskConfig{dir.path("disk").string(), true, ""}),
            irq);
        driver = std::make_unique<TestDriver>(mem, *transport);
    }
    TempDir dir;
    GuestMemory mem{{{0, 1 << 20}}};
    CountingLine irq;
    std::unique_ptr<MmioTransport> transport;
    std::unique_ptr<TestDriver> driver;
};

}  // namespace

TEST_F(TransportTest, IdentityRegisters) {
    EXPECT_EQ(driver->read(reg::kMagic), 0x74726976u);
    EXPECT_EQ(driver->read(reg::kVersion), 2u);
    EXPECT_EQ(driver->read(reg::kDeviceId), 2u);
    uint64_t f = driver->device_features();
    EXPECT_TRUE(f & (1ull << 32));  // VERSION_1
    EXPECT_TRUE(f & (1ull << 5));   // read-only disk
    driver->write(reg::kQueueSel, 0);
    EXPECT_EQ(driver->read(reg::kQueueNumMax), 256u);
    driver->write(reg::kQueueSel, 1);
    EXPECT_EQ(driver->read(reg::kQueueNumMax), 0u);  // only one queue
}

TEST_F(TransportTest, RegistersAreThirtyTwoBitOnly) {
    uint8_t byte = 0xff;
    transport->read(reg::kMagic, {&byte, 1});
    EXPECT_EQ(byte, 0);
    uint16_t half = 0;
    transport->write(reg::kStatus, {reinterpret_cast<uint8_t*>(&half), 2});
    EXPECT_EQ(driver->read(reg::kStatus), 0u);
}

TEST_F(TransportTest, ConfigSpaceCarriesTheCapacity) {
    uint64_t capacity = 0;
    transport->read(reg::kConfig, {reinterpret_cast<uint8_t*>(&capacity), 8});
    EXPECT_EQ(capacity, 16u);
    uint8_t beyond[4] = {1, 1, 1, 1};
    transport->read(reg::kConfig + 0x200, beyond);
    EXPECT_EQ(beyond[0] | beyond[1] | beyond[2] | beyond[3], 0);
}

TEST_F(TransportTest, NegotiationAndActivation) {
    uint32_t status = driver->initialize(1ull << 5, 1);
    EXPECT_EQ(status, 15u);  // ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    EXPECT_EQ(driver->read(reg::kQueueReady), 1u);
}

TEST_F(TransportTest, UnofferedFeaturesAreRefused) {
    uint32_t status = driver->initialize(1ull << 40, 1);
    EXPECT_EQ(status & TestDriver::kFeaturesOk, 0u);
}

TEST_F(TransportTest, Version1IsRequired) {
    driver->write(reg::kStatus, 1);
    driver->write(reg::kStatus, 3);
    driver->write(reg::kDriverFeaturesSel, 0);
    driver->write(reg::kDriverFeatures, 0);
    driver->write(reg::kStatus, 3 | 8);
    EXPECT_EQ(driver->read(reg::kStatus) & 8, 0u);
}

TEST_F(TransportTest, BadQueueAddressesNeedReset) {
    driver->write(reg::kStatus, 1);
    driver->write(reg::kStatus, 3);
    driver->write(reg::kDriverFeaturesSel, 1);
    driver->write(reg::kDriverFeatures, 1);
    driver->write(reg::kStatus, 11);
    driver->write(reg::kQueueSel, 0);
    driver->write(reg::kQueueNum, 16);
    driver->write(reg::kQueueDescLow, 0xfffff000);  // far outside guest RAM
    driver->write(reg::kQueueDriverLow, 0x2000);
    driver->write(reg::kQueueDeviceLow, 0x3000);
    driver->write(reg::kQueueReady, 1);
    driver->write(reg::kStatus, 15);
    EXPECT_TRUE(driver->read(reg::kStatus) & TestDriver::kNeedsReset);
    EXPECT_TRUE(driver->read(reg::kInterruptStatus) & 2);  // config change raised
    EXPECT_GE(irq.count, 1);
    EXPECT_NE(transport->last_error().find("outside"), std::string::npos);
    // A reset clears it.
    driver->write(reg::kStatus, 0);
    EXPECT_EQ(driver->read(reg::kStatus), 0u);
}

TEST_F(TransportTest, InterruptStatusAndAck) {
    driver->initialize(1ull << 5, 1);
    driver->submit(0, {{0x40000, 16, false}, {0x41000, 1, true}});
    std::vector<uint8_t> header(16, 0);
    header[0] = 4;  // flush
    ASSERT_TRUE(mem.write(0x40000, header));
    driver->notify(0);
    EXPECT_EQ(irq.count, 1);
    EXPECT_EQ(driver->read(reg::kInterruptStatus), 1u);
    driver->write(reg::kInterruptAck, 1);
    EXPECT_EQ(driver->read(reg::kInterruptStatus), 0u);
}

TEST_F(TransportTest, QueueConfigFrozenAfterDriverOk) {
    driver->initialize(1ull << 5, 1);
    uint64_t desc = driver->queue(0).desc;
    driver->write(reg::kQueueSel, 0);
    driver->write(reg::kQueueDescLow, 0x80000);
    // Still served from the original ring.
    driver->submit(0, {{0x40000, 16, false}, {0x41000, 1, true}});
    driver->notify(0);
    EXPECT_TRUE(driver->next_used(0).has_value());
    EXPECT_EQ(driver->queue(0).desc, desc);
}

TEST_F(TransportTest, NotifyForUnknownQueueIsIgnored) {
    driver->initialize(1ull << 5, 1);
    driver->notify(7);
    driver->notify(0xffffffff);
    EXPECT_EQ(irq.count, 0);
}
