// The split virtqueue against a hostile driver: every malformed chain is refused without
// touching memory outside guest RAM, without looping, and without taking the queue down unless
// the ring itself is corrupt.
#include "vmm/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace rkt::vmm;

namespace {

constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;

class VirtqueueTest : public ::testing::Test {
protected:
    static constexpr uint16_t kSize = 8;
    GuestMemory mem{{{0, 1 << 20}}};
    QueueConfig config{kSize, true, 0x1000, 0x2000, 0x3000};

    void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
        uint8_t d[16];
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
        ASSERT_TRUE(mem.write(config.descriptor_table + 16ull * i, d));
    }
    void publish(std::vector<uint16_t> heads) {
        for (uint16_t h : heads) {
            ASSERT_TRUE(
                mem.write_obj<uint16_t>(config.available_ring + 4 + 2ull * (avail_ % kSize), h));
            ++avail_;
        }
        ASSERT_TRUE(mem.store_release_u16(config.available_ring + 2, avail_));
    }
    uint16_t used_index() { return mem.load_acquire_u16(config.used_ring + 2).value(); }
    std::pair<uint32_t, uint32_t> used(uint16_t i) {
        uint64_t slot = config.used_ring + 4 + 8ull * (i % kSize);
        return {mem.read_obj<uint32_t>(slot).value(), mem.read_obj<uint32_t>(slot + 4).value()};
    }
    uint16_t avail_ = 0;
};

}  // namespace

TEST_F(VirtqueueTest, ValidChainSplitsReadableAndWritable) {
    desc(0, 0x10000, 16, kNext, 1);
    desc(1, 0x11000, 512, kNext | kWrite, 2);
    desc(2, 0x12000, 1, kWrite);
    publish({0});
    Virtqueue q(mem, config);
    EXPECT_TRUE(q.has_available());
    auto c = q.pop();
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(c->ok()) << c->error;
    EXPECT_EQ(c->head, 0);
    EXPECT_EQ(c->readable.size(), 1u);
    EXPECT_EQ(c->writable.size(), 2u);
    EXPECT_EQ(c->readable_bytes, 16u);
    EXPECT_EQ(c->writable_bytes, 513u);
    EXPECT_FALSE(q.pop().has_value());
    q.add_used(c->head, 513);
    EXPECT_EQ(used_index(), 1);
    EXPECT_EQ(used(0), std::make_pair(0u, 513u));
}

TEST_F(VirtqueueTest, ChainHelpersCopyAcrossDescriptors) {
    desc(0, 0x10000, 3, kNext, 1);
    desc(1, 0x10100, 5, kNext, 2);
    desc(2, 0x20000, 4, kNext | kWrite, 3);
    desc(3, 0x20100, 4, kWrite);
    ASSERT_TRUE(mem.write(0x10000, std::vector<uint8_t>{1, 2, 3}));
    ASSERT_TRUE(mem.write(0x10100, std::vector<uint8_t>{4, 5, 6, 7, 8}));
    publish({0});
    Virtqueue q(mem, config);
    auto c = q.pop();
    ASSERT_TRUE(c && c->ok());
    std::vector<uint8_t> out(6);
    ASSERT_TRUE(read_chain(mem, *c, 1, out));
    EXPECT_EQ(out, (std::vector<uint8_t>{2, 3, 4, 5, 6, 7}));
    std::vector<uint8_t> too_much(9);
    EXPECT_FALSE(read_chain(mem, *c, 0, too_much));
    std::vector<uint8_t> data{9, 9, 9, 9, 8, 8};
    ASSERT_TRUE(write_chain(mem, *c, 1, data));
    EXPECT_EQ(mem.read_obj<uint32_t>(0x20000).value(), 0x09090900u);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x20101).value(), 8);
    EXPECT_FALSE(write_chain(mem, *c, 6, data));
    auto slices = chain_slices(mem, c->writable, 2, 4);
    ASSERT_EQ(slices.size(), 2u);
    EXPECT_EQ(slices[0].size(), 2u);
    EXPECT_EQ(slices[1].size(), 2u);
}

TEST_F(VirtqueueTest, BufferOutsideRamIsRefused) {
    desc(0, 0x10000, 16, kNext, 1);
    desc(1, (1 << 20) - 4, 8, kWrite);         // runs past the end of RAM
    desc(2, 0xffffffffffffff00ull, 0x200, 0);  // wraps around
    publish({0, 2});
    Virtqueue q(mem, config);
    auto c = q.pop();
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->ok());
    EXPECT_TRUE(c->readable.empty() && c->writable.empty());
    auto c2 = q.pop();
    ASSERT_TRUE(c2.has_value());
    EXPECT_FALSE(c2->ok());
    EXPECT_FALSE(q.broken());  // the ring itself is fine: later chains still work
    desc(3, 0x10000, 4, 0);
    publish({3});
    auto c3 = q.pop();
    ASSERT_TRUE(c3 && c3->ok());
}

TEST_F(VirtqueueTest, LoopingChainIsRefused) {
    desc(0, 0x10000, 16, kNext, 1);
    desc(1, 0x10000, 16, kNext, 0);
    desc(2, 0x10000, 16, kNext, 2);  // points at itself
    publish({0, 2});
    Virtqueue q(mem, config);
    auto a = q.pop();
    auto b = q.pop();
    ASSERT_TRUE(a && b);
    EXPECT_FALSE(a->ok());
    EXPECT_FALSE(b->ok());
    EXPECT_NE(a->error.find("loop"), std::string::npos);
}

TEST_F(VirtqueueTest, NextIndexPastTheTableIsRefused) {
    desc(0, 0x10000, 16, kNext, 200);
    publish({0});
    Virtqueue q(mem, config);
    auto c = q.pop();
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->ok());
}

TEST_F(VirtqueueTest, OversizedRequestIsRefused) {
    desc(0, 0x10000, 0x8000, kNext, 1);
    desc(1, 0x20000, 0x9000, kWrite);
    publish({0});
    Virtqueue q(mem, config, {256, 0x10000});
    auto c = q.pop();
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->ok());
    EXPECT_NE(c->error.find("larger"), std::string::npos);
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsRefused) {
    desc(0, 0x10000, 16, kNext | kWrite, 1);
    desc(1, 0x11000, 16, 0);
    publish({0});
    Virtqueue q(mem, config);
    EXPECT_FALSE(q.pop()->ok());
}

TEST_F(VirtqueueTest, IndirectDescriptorsAreRefused) {
    desc(0, 0x10000, 32, kIndirect);
    publish({0});
    Virtqueue q(mem, config);
    EXPECT_FALSE(q.pop()->ok());
}

TEST_F(VirtqueueTest, HeadIndexOutOfRangeBreaksTheQueue) {
    publish({kSize + 3});
    Virtqueue q(mem, config);
    EXPECT_FALSE(q.pop().has_value());
    EXPECT_TRUE(q.broken());
    EXPECT_FALSE(q.pop().has_value());
    q.add_used(0, 0);  // ignored on a broken queue
    EXPECT_EQ(used_index(), 0);
}

TEST_F(VirtqueueTest, AvailableIndexRunningAheadBreaksTheQueue) {
    ASSERT_TRUE(mem.store_release_u16(config.available_ring + 2, kSize + 1));
    Virtqueue q(mem, config);
    EXPECT_FALSE(q.pop().has_value());
    EXPECT_TRUE(q.broken());
    EXPECT_NE(q.broken_reason().find("ahead"), std::string::npos);
}

TEST_F(VirtqueueTest, IndexesWrapAround) {
    desc(0, 0x10000, 4, 0);
    Virtqueue q(mem, config);
    // 70000 rounds take both 16-bit indexes past their wrap.
    for (int round = 0; round < 70000; ++round) {
        publish({0});
        auto c = q.pop();
        ASSERT_TRUE(c && c->ok());
        q.add_used(0, 0);
    }
    EXPECT_EQ(used_index(), static_cast<uint16_t>(70000));
}

TEST_F(VirtqueueTest, UndoPopGivesTheChainBack) {
    desc(0, 0x10000, 4, 0);
    publish({0});
    Virtqueue q(mem, config);
    ASSERT_TRUE(q.pop().has_value());
    q.undo_pop();
    EXPECT_TRUE(q.has_available());
    EXPECT_EQ(q.pop()->head, 0);
}

TEST_F(VirtqueueTest, InterruptSuppression) {
    Virtqueue q(mem, config);
    EXPECT_TRUE(q.needs_interrupt());
    ASSERT_TRUE(mem.write_obj<uint16_t>(config.available_ring, 1));
    EXPECT_FALSE(q.needs_interrupt());
}

TEST(VirtqueueValidate, RejectsBadConfigurations) {
    GuestMemory mem({{0, 0x10000}});
    EXPECT_FALSE(Virtqueue::validate({8, true, 0x1000, 0x2000, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({0, true, 0x1000, 0x2000, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({6, true, 0x1000, 0x2000, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({512, true, 0x1000, 0x2000, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({8, true, 0x1008, 0x2000, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({8, true, 0x1000, 0x2001, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({8, true, 0x1000, 0x2000, 0x3002}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({8, true, 0xffc0, 0x2000, 0x3000}, mem).has_value());
    EXPECT_TRUE(Virtqueue::validate({8, true, 0x1000, 0x2000, 0xfff0}, mem).has_value());
}

TEST(VirtqueueValidate, QueueNotReadyDoesNothing) {
    GuestMemory mem({{0, 0x10000}});
    Virtqueue q(mem, QueueConfig{});
    EXPECT_FALSE(q.has_available());
    EXPECT_FALSE(q.pop().has_value());
    q.add_used(0, 0);
    EXPECT_FALSE(q.broken());
}
