#include "vmm/bus/bus.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/error.h"

namespace {

class Recorder : public rkt::vmm::BusDevice {
public:
    void read(uint64_t offset, std::span<uint8_t> data) override {
        reads.push_back(offset);
        for (auto& b : data) b = static_cast<uint8_t>(offset);
    }
    void write(uint64_t offset, std::span<const uint8_t> data) override {
        writes.emplace_back(offset, data.size());
    }
    std::vector<uint64_t> reads;
    std::vector<std::pair<uint64_t, size_t>> writes;
};

}  // namespace

TEST(Bus, DispatchesWithOffsetsRelativeToTheRange) {
    rkt::vmm::BusBuilder builder("test");
    auto a = std::make_shared<Recorder>();
    auto b = std::make_shared<Recorder>();
    builder.insert(0x3f8, 8, a);
    builder.insert(0x60, 5, b);
    const rkt::vmm::Bus bus = builder.seal();
    uint8_t v = 0;
    EXPECT_TRUE(bus.dispatch_read(0x3fd, {&v, 1}));
    EXPECT_EQ(v, 5);
    uint8_t w[2] = {1, 2};
    EXPECT_TRUE(bus.dispatch_write(0x64, {w, 1}));
    EXPECT_EQ(a->reads, std::vector<uint64_t>{5});
    ASSERT_EQ(b->writes.size(), 1u);
    EXPECT_EQ(b->writes[0].first, 4u);
}

TEST(Bus, UnclaimedAddressesAreReported) {
    rkt::vmm::BusBuilder builder("test");
    builder.insert(0x1000, 0x10, std::make_shared<Recorder>());
    const rkt::vmm::Bus bus = builder.seal();
    uint8_t v[4] = {};
    EXPECT_FALSE(bus.dispatch_read(0xfff, {v, 1}));
    EXPECT_FALSE(bus.dispatch_read(0x1010, {v, 1}));
    // An access that starts inside a range but runs past it belongs to no device.
    EXPECT_FALSE(bus.dispatch_read(0x100e, {v, 4}));
    EXPECT_TRUE(bus.dispatch_read(0x100c, {v, 4}));
}

TEST(Bus, OverlappingRangesAreRefused) {
    rkt::vmm::BusBuilder bus("test");
    bus.insert(0x100, 0x10, std::make_shared<Recorder>());
    EXPECT_THROW(bus.insert(0x108, 0x10, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(0xf8, 0x10, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(0x100, 1, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(0x200, 0, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_NO_THROW(bus.insert(0x110, 0x10, std::make_shared<Recorder>()));
    EXPECT_NO_THROW(bus.insert(0xf0, 0x10, std::make_shared<Recorder>()));
}

TEST(Bus, RangesThatWrapAroundAreRefused) {
    rkt::vmm::BusBuilder bus("test");
    EXPECT_THROW(bus.insert(UINT64_MAX, 2, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(1, UINT64_MAX, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(UINT64_MAX, 1, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_NO_THROW(bus.insert(UINT64_MAX - 1, 1, std::make_shared<Recorder>()));
    const rkt::vmm::Bus sealed = bus.seal();
    uint8_t v = 0;
    EXPECT_TRUE(sealed.dispatch_read(UINT64_MAX - 1, {&v, 1}));
    uint8_t w[2] = {};
    EXPECT_FALSE(sealed.dispatch_read(UINT64_MAX - 1, {w, 2}));  // past the range: no device
}

// Sealing is one way: the builder then refuses every range (the sealed Bus has no insert at all),
// so what the vCPU threads dispatch on cannot change under them.
TEST(Bus, NothingIsAddedOnceSealed) {
    rkt::vmm::BusBuilder builder("port I/O");
    auto device = std::make_shared<Recorder>();
    builder.insert(0x60, 1, device);
    EXPECT_FALSE(builder.sealed());
    const rkt::vmm::Bus bus = builder.seal();
    EXPECT_TRUE(builder.sealed());
    try {
        builder.insert(0x70, 1, std::make_shared<Recorder>());
        ADD_FAILURE() << "a sealed bus took a device";
    } catch (const rkt::Error& e) {
        EXPECT_NE(std::string(e.what()).find("port I/O bus: cannot add a device at 0x70"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(builder.seal(), rkt::Error);
    uint8_t v = 0;
    EXPECT_TRUE(bus.dispatch_read(0x60, {&v, 1}));
    EXPECT_FALSE(bus.dispatch_read(0x70, {&v, 1}));
    EXPECT_EQ(bus.name(), "port I/O");
}
