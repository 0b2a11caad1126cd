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
        writes.push_back({offset, data.size()});
    }
    std::vector<uint64_t> reads;
    std::vector<std::pair<uint64_t, size_t>> writes;
};

}  // namespace

TEST(Bus, DispatchesWithOffsetsRelativeToTheRange) {
    rkt::vmm::Bus bus("test");
    auto a = std::make_shared<Recorder>();
    auto b = std::make_shared<Recorder>();
    bus.insert(0x3f8, 8, a);
    bus.insert(0x60, 5, b);
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
    rkt::vmm::Bus bus("test");
    bus.insert(0x1000, 0x10, std::make_shared<Recorder>());
    uint8_t v[4] = {};
    EXPECT_FALSE(bus.dispatch_read(0xfff, {v, 1}));
    EXPECT_FALSE(bus.dispatch_read(0x1010, {v, 1}));
    // An access that starts inside a range but runs past it belongs to no device.
    EXPECT_FALSE(bus.dispatch_read(0x100e, {v, 4}));
    EXPECT_TRUE(bus.dispatch_read(0x100c, {v, 4}));
}

TEST(Bus, OverlappingRangesAreRefused) {
    rkt::vmm::Bus bus("test");
    bus.insert(0x100, 0x10, std::make_shared<Recorder>());
    EXPECT_THROW(bus.insert(0x108, 0x10, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(0xf8, 0x10, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(0x100, 1, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_THROW(bus.insert(0x200, 0, std::make_shared<Recorder>()), rkt::Error);
    EXPECT_NO_THROW(bus.insert(0x110, 0x10, std::make_shared<Recorder>()));
    EXPECT_NO_THROW(bus.insert(0xf0, 0x10, std::make_shared<Recorder>()));
}
