// virtio-net against a datagram socket pair standing in for the tap (frames keep their
// boundaries the same way); the TUN ioctls simply do not apply to it.
#include "vmm/virtio/net.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "common/event_loop.h"
#include "test_support.h"

using namespace rkt::vmm;
using namespace rkt::vmm::test;

namespace {

class NetTest : public ::testing::Test {
protected:
    void SetUp() override {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        tap.reset(sv[0]);
        peer.reset(sv[1]);
        auto device =
            std::make_unique<NetDevice>(tap.get(), std::array<uint8_t, 6>{2, 0, 0, 0, 0, 1});
        device->attach(loop);
        transport = std::make_unique<MmioTransport>(mem, std::move(device), irq);
        driver = std::make_unique<TestDriver>(mem, *transport);
        ASSERT_EQ(driver->initialize(1ull << 5, 2) & 15, 15u);
    }
    GuestMemory mem{{{0, 4 << 20}}};
    CountingLine irq;
    rkt::EventLoop loop;
    rkt::UniqueFd tap, peer;
    std::unique_ptr<MmioTransport> transport;
    std::unique_ptr<TestDriver> driver;
};

}  // namespace

TEST_F(NetTest, MacInConfigSpace) {
    uint8_t mac[6] = {};
    transport->read(reg::kConfig, mac);
    EXPECT_EQ(mac[0], 2);
    EXPECT_EQ(mac[5], 1);
}

TEST_F(NetTest, TransmitStripsTheHeader) {
    std::vector<uint8_t> frame(12 + 60, 0);
    for (size_t i = 12; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i);
    ASSERT_TRUE(mem.write(0x200000, frame));
    driver->submit(1, {{0x200000, static_cast<uint32_t>(frame.size()), false}});
    driver->notify(1);
    uint8_t buf[200];
    ssize_t n = ::recv(peer.get(), buf, sizeof buf, MSG_DONTWAIT);
    ASSERT_EQ(n, 60);
    EXPECT_EQ(buf[0], 12);
    EXPECT_TRUE(driver->next_used(1).has_value());
}

TEST_F(NetTest, ReceiveAddsTheHeader) {
    driver->submit(0, {{0x300000, 2048, true}});
    driver->notify(0);
    std::vector<uint8_t> frame(64, 0xab);
    ASSERT_EQ(::send(peer.get(), frame.data(), frame.size(), 0), 64);
    EXPECT_EQ(loop.run_once(1000), 1);
    auto used = driver->next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 76u);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x300000).value(), 0);
    EXPECT_EQ(mem.read_obj<uint16_t>(0x300000 + 10).value(), 1);  // num_buffers
    EXPECT_EQ(mem.read_obj<uint8_t>(0x300000 + 12).value(), 0xab);
}

TEST_F(NetTest, FrameLargerThanTheBufferIsDropped) {
    driver->submit(0, {{0x300000, 32, true}});
    driver->notify(0);
    std::vector<uint8_t> frame(100, 1);
    ASSERT_EQ(::send(peer.get(), frame.data(), frame.size(), 0), 100);
    loop.run_once(1000);
    auto used = driver->next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 0u);
}
