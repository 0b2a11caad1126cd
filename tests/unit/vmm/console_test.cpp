#include "vmm/virtio/console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/event_loop.h"
#include "test_support.h"

using namespace rkt::vmm;
using namespace rkt::vmm::test;

namespace {

constexpr uint16_t kDeviceReady = 0, kDeviceAdd = 1, kPortReady = 3, kConsolePort = 4,
                   kPortOpen = 6, kPortName = 7;

struct Control {
    uint32_t id;
    uint16_t event, value;
    std::string extra;
};

class ConsoleTest : public ::testing::Test {
protected:
    void SetUp() override {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        vmm_end.reset(sv[0]);
        host_end.reset(sv[1]);
        int p[2];
        ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        log_read.reset(p[0]);
        log_write.reset(p[1]);
    }
    void start(const std::vector<ConsolePortConfig>& ports, uint64_t features) {
        auto device = std::make_unique<ConsoleDevice>(ports);
        console = device.get();
        console->attach(loop);
        queues = device->queue_count();
        transport = std::make_unique<MmioTransport>(mem, std::move(device), irq);
        driver = std::make_unique<TestDriver>(mem, *transport);
        ASSERT_EQ(driver->initialize(features, queues) & 15, 15u);
    }
    void post_receive_buffers(size_t q, int count, uint32_t size = 256) {
        for (int i = 0; i < count; ++i) driver->submit(q, {{next_buffer(size), size, true}});
        driver->notify(q);
    }
    uint64_t next_buffer(uint32_t size) {
        uint64_t a = buffer_;
        buffer_ += (size + 0xfff) & ~0xfffu;
        return a;
    }
    void send_control(uint32_t id, uint16_t event, uint16_t value) {
        uint64_t a = next_buffer(8);
        uint8_t m[8];
        std::memcpy(m, &id, 4);
        std::memcpy(m + 4, &event, 2);
        std::memcpy(m + 6, &value, 2);
        ASSERT_TRUE(mem.write(a, m));
        driver->submit(3, {{a, 8, false}});
        driver->notify(3);
    }
    // Control messages the device delivered so far.
    std::vector<Control> received_control() {
        std::vector<Control> out;
        while (auto used = driver->next_used(2)) {
            auto& q = driver->queue(2);
            uint64_t desc = q.desc + 16ull * used->first;
            uint64_t addr = mem.read_obj<uint64_t>(desc).value();
            std::vector<uint8_t> bytes(used->second);
            EXPECT_TRUE(mem.read(addr, bytes));
            Control c{};
            std::memcpy(&c.id, bytes.data(), 4);
            std::memcpy(&c.event, bytes.data() + 4, 2);
            std::memcpy(&c.value, bytes.data() + 6, 2);
            c.extra.assign(bytes.begin() + 8, bytes.end());
            out.push_back(c);
        }
        return out;
    }
    std::string read_host(int fd) {
        std::string out;
        char buf[512];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
            out.append(buf, static_cast<size_t>(n));
        if (n < 0 && errno == ENOTSOCK)
            while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
        return out;
    }
    void guest_write(size_t q, const std::string& text) {
        uint64_t a = next_buffer(static_cast<uint32_t>(text.size()));
        ASSERT_TRUE(mem.write(a, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
        driver->submit(q, {{a, static_cast<uint32_t>(text.size()), false}});
        driver->notify(q);
    }

    GuestMemory mem{{{0, 4 << 20}}};
    CountingLine irq;
    rkt::EventLoop loop;
    rkt::UniqueFd vmm_end, host_end, log_read, log_write;
    ConsoleDevice* console = nullptr;
    size_t queues = 0;
    std::unique_ptr<MmioTransport> transport;
    std::unique_ptr<TestDriver> driver;
    uint64_t buffer_ = 0x100000;
};

}  // namespace

TEST_F(ConsoleTest, MultiportHandshakeNamesThePort) {
    start({{"", true, -1, log_write.get()}, {"rkt.guest", false, vmm_end.get(), -1}}, 1ull << 1);
    EXPECT_TRUE(console->multiport());
    EXPECT_EQ(queues, 6u);
    uint32_t max_ports = 0;
    transport->read(reg::kConfig + 4, {reinterpret_cast<uint8_t*>(&max_ports), 4});
    EXPECT_EQ(max_ports, 2u);

    post_receive_buffers(2, 8, 64);
    send_control(0xffffffff, kDeviceReady, 1);
    auto adds = received_control();
    ASSERT_EQ(adds.size(), 2u);
    EXPECT_EQ(adds[0].event, kDeviceAdd);
    EXPECT_EQ(adds[0].id, 0u);
    EXPECT_EQ(adds[1].id, 1u);

    send_control(0, kPortReady, 1);
    auto port0 = received_control();
    ASSERT_EQ(port0.size(), 2u);
    EXPECT_EQ(port0[0].event, kConsolePort);
    EXPECT_EQ(port0[1].event, kPortOpen);

    send_control(1, kPortReady, 1);
    auto port1 = received_control();
    ASSERT_EQ(port1.size(), 2u);
    EXPECT_EQ(port1[0].event, kPortName);
    EXPECT_EQ(port1[0].extra, "rkt.guest");
    EXPECT_EQ(port1[1].event, kPortOpen);
    EXPECT_EQ(port1[1].value, 1);
}

TEST_F(ConsoleTest, BytesFlowBothWays) {
    start({{"rkt.guest", false, vmm_end.get(), -1}}, 1ull << 1);
    // Port 0 of a multiport device uses queues 0 (receive) and 1 (transmit).
    guest_write(1, "hello host");
    EXPECT_EQ(read_host(host_end.get()), "hello host");

    ASSERT_EQ(::write(host_end.get(), "hi guest", 8), 8);
    post_receive_buffers(0, 1, 64);
    auto used = driver->next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 8u);
    uint64_t addr = mem.read_obj<uint64_t>(driver->queue(0).desc + 16ull * used->first).value();
    std::string got(8, '\0');
    ASSERT_TRUE(mem.read(addr, {reinterpret_cast<uint8_t*>(got.data()), 8}));
    EXPECT_EQ(got, "hi guest");
}

TEST_F(ConsoleTest, HostInputWaitsForGuestBuffersThroughTheEventLoop) {
    start({{"rkt.guest", false, vmm_end.get(), -1}}, 1ull << 1);
    post_receive_buffers(0, 2, 64);  // nothing to read yet: buffers stay available
    EXPECT_FALSE(driver->next_used(0).has_value());
    ASSERT_EQ(::write(host_end.get(), "ping", 4), 4);
    EXPECT_EQ(loop.run_once(1000), 1);  // the fd was registered because buffers wait
    auto used = driver->next_used(0);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->second, 4u);
}

TEST_F(ConsoleTest, HostHangupClosesThePort) {
    start({{"rkt.guest", false, vmm_end.get(), -1}}, 1ull << 1);
    post_receive_buffers(2, 8, 64);
    send_control(0xffffffff, kDeviceReady, 1);
    received_control();
    post_receive_buffers(0, 1, 64);
    host_end.reset();
    loop.run_once(1000);
    auto messages = received_control();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].event, kPortOpen);
    EXPECT_EQ(messages[0].value, 0);
    // With the peer gone there is nothing left to poll: the loop stays quiet.
    EXPECT_EQ(loop.run_once(0), 0);
}

TEST_F(ConsoleTest, PlainConsoleWritesToItsOutput) {
    start({{"", true, -1, log_write.get()}}, 0);
    EXPECT_FALSE(console->multiport());
    EXPECT_EQ(queues, 2u);
    guest_write(1, "[    0.000000] Linux version 6.1\n");
    EXPECT_EQ(read_host(log_read.get()), "[    0.000000] Linux version 6.1\n");
}

TEST_F(ConsoleTest, MalformedTransmitChainIsDropped) {
    start({{"rkt.guest", false, vmm_end.get(), -1}}, 1ull << 1);
    driver->submit(1, {{0xfff00000, 64, false}});
    driver->notify(1);
    auto used = driver->next_used(1);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(read_host(host_end.get()), "");
    guest_write(1, "still works");
    EXPECT_EQ(read_host(host_end.get()), "still works");
}

TEST(ConsoleDevice, RejectsBadPortSets) {
    EXPECT_THROW(ConsoleDevice({}), rkt::Error);
    EXPECT_THROW(ConsoleDevice({{"", true, -1, 1}, {"", true, -1, 1}}), rkt::Error);
    EXPECT_THROW(ConsoleDevice({{"x", false, 1, 1}}), rkt::Error);
}
