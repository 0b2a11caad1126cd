// virtio-net against a datagram socket pair standing in for a plain tap (frames keep their
// boundaries the same way; the TUN ioctls simply do not apply to it), then against a real tap
// with virtio-net headers and offloads (root and /dev/net/tun needed, else skipped).
#include "vmm/virtio/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

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

namespace {

constexpr uint64_t kMac = virtio::kNetFeatureMac, kMrg = virtio::kNetFeatureMrgRxbuf;

void expect_header(const GuestMemory& mem, uint64_t address, uint8_t gso_type,
                   uint16_t num_buffers) {
    EXPECT_EQ(mem.read_obj<uint8_t>(address + 1).value(), gso_type);
    EXPECT_EQ(mem.read_obj<uint16_t>(address + 10).value(), num_buffers);
}

}  // namespace

TEST_F(NetTest, APlainTapGetsNoOffloads) {
    EXPECT_EQ(driver->device_features(), kMac | kMrg | virtio::kFeatureVersion1);
}

TEST_F(NetTest, MergeableFrameSpansSeveralChains) {
    ASSERT_EQ(driver->initialize(kMac | kMrg, 2) & 15, 15u);
    for (uint64_t i = 0; i < 3; ++i) driver->submit(0, {{0x300000 + i * 0x1000, 1024, true}});
    driver->notify(0);
    std::vector<uint8_t> frame(2500);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i * 7);
    ASSERT_EQ(::send(peer.get(), frame.data(), frame.size(), 0), 2500);
    EXPECT_EQ(loop.run_once(1000), 1);
    std::vector<uint32_t> lengths;
    while (auto used = driver->next_used(0)) lengths.push_back(used->second);
    EXPECT_EQ(lengths, (std::vector<uint32_t>{1024, 1024, 12 + 2500 - 2048}));
    expect_header(mem, 0x300000, 0, 3);
    // The frame continues where each buffer ends.
    EXPECT_EQ(mem.read_obj<uint8_t>(0x300000 + 12).value(), frame[0]);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x301000).value(), frame[1024 - 12]);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x302000 + 463).value(), frame[2499]);
}

TEST_F(NetTest, MergeableFrameWaitsForEnoughBuffers) {
    ASSERT_EQ(driver->initialize(kMac | kMrg, 2) & 15, 15u);
    driver->submit(0, {{0x300000, 1024, true}});
    driver->notify(0);
    std::vector<uint8_t> frame(1500, 0x5a);
    ASSERT_EQ(::send(peer.get(), frame.data(), frame.size(), 0), 1500);
    loop.run_once(1000);
    EXPECT_FALSE(driver->next_used(0).has_value());  // held, not dropped
    driver->submit(0, {{0x301000, 1024, true}});
    driver->notify(0);
    ASSERT_EQ(driver->next_used(0).value().second, 1024u);
    ASSERT_EQ(driver->next_used(0).value().second, 12u + 1500 - 1024);
    expect_header(mem, 0x300000, 0, 2);
}

TEST_F(NetTest, MergeableSkipsBuffersThatCannotHoldTheHeader) {
    ASSERT_EQ(driver->initialize(kMac | kMrg, 2) & 15, 15u);
    driver->submit(0, {{0x300000, 4, true}});
    // Hostile: a buffer outside guest memory.
    driver->submit(0, {{0x7fff0000, 2048, true}});
    driver->submit(0, {{0x301000, 2048, true}});
    driver->notify(0);
    std::vector<uint8_t> frame(100, 0xcd);
    ASSERT_EQ(::send(peer.get(), frame.data(), frame.size(), 0), 100);
    loop.run_once(1000);
    EXPECT_EQ(driver->next_used(0).value().second, 0u);
    EXPECT_EQ(driver->next_used(0).value().second, 0u);
    EXPECT_EQ(driver->next_used(0).value().second, 112u);
    expect_header(mem, 0x301000, 0, 1);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x301000 + 12).value(), 0xcd);
    EXPECT_EQ(driver->read(reg::kStatus) & TestDriver::kNeedsReset, 0u);
}

TEST_F(NetTest, MergeableFrameLargerThanTheWholeRingIsDropped) {
    ASSERT_EQ(driver->initialize(kMac | kMrg, 2, 4) & 15, 15u);
    for (uint64_t i = 0; i < 4; ++i) driver->submit(0, {{0x300000 + i * 0x1000, 64, true}});
    driver->notify(0);
    std::vector<uint8_t> frame(1000, 1);
    ASSERT_EQ(::send(peer.get(), frame.data(), frame.size(), 0), 1000);
    loop.run_once(1000);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(driver->next_used(0).value().second, 0u);
    EXPECT_EQ(static_cast<NetDevice&>(transport->device()).dropped(), 1u);
}

TEST_F(NetTest, TransmitRefusesOffloadsThatWereNotNegotiated) {
    for (auto [flags, gso] : {std::pair<uint8_t, uint8_t>{virtio::kNetHdrNeedsCsum, 0},
                              {0, virtio::kNetGsoTcpv4},
                              {0, virtio::kNetGsoEcn},
                              {0x40, 0}}) {
        std::vector<uint8_t> frame(12 + 60, 0);
        frame[0] = flags;
        frame[1] = gso;
        ASSERT_TRUE(mem.write(0x200000, frame));
        driver->submit(1, {{0x200000, static_cast<uint32_t>(frame.size()), false}});
        driver->notify(1);
        EXPECT_TRUE(driver->next_used(1).has_value());
        uint8_t buf[200];
        EXPECT_LT(::recv(peer.get(), buf, sizeof buf, MSG_DONTWAIT), 0);
    }
    EXPECT_EQ(static_cast<NetDevice&>(transport->device()).dropped(), 4u);
}

// The same device on a real tap (IFF_VNET_HDR) in a network namespace of its own, made on a
// helper thread so this process keeps its own. A packet socket with virtio-net headers on the
// tap's interface plays the host's network stack: what it sends goes to the guest, and it sees
// what the guest sends, GSO included.
namespace {

constexpr uint16_t kEthIp = 0x0800;

struct TapNetwork {
    rkt::UniqueFd tap, packets;
    int index = 0;
    std::string error;
};

TapNetwork make_tap_network() {
    TapNetwork n;
    std::thread([&n] {
        auto fail = [&n](const std::string& what) { n.error = what + ": " + std::strerror(errno); };
        if (::unshare(CLONE_NEWNET) != 0) return fail("unshare(CLONE_NEWNET)");
        // No IPv6 chatter (router solicitations) on the tap to get in the way of the tests.
        for (const char* p : {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                              "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
            rkt::UniqueFd f(::open(p, O_WRONLY | O_CLOEXEC));
            if (f) (void)!::write(f.get(), "1", 1);
        }
        n.tap.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
        if (!n.tap) return fail("open /dev/net/tun");
        ifreq ifr{};
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        std::strncpy(ifr.ifr_name, "rkttap0", IFNAMSIZ - 1);
        if (::ioctl(n.tap.get(), TUNSETIFF, &ifr) != 0) return fail("TUNSETIFF");
        rkt::UniqueFd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (::ioctl(ctl.get(), SIOCGIFFLAGS, &ifr) != 0) return fail("SIOCGIFFLAGS");
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        if (::ioctl(ctl.get(), SIOCSIFFLAGS, &ifr) != 0) return fail("SIOCSIFFLAGS");
        n.index = static_cast<int>(::if_nametoindex("rkttap0"));
        n.packets.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kEthIp)));
        if (!n.packets) return fail("socket(AF_PACKET)");
        int on = 1;
        if (::setsockopt(n.packets.get(), SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) != 0)
            return fail("PACKET_VNET_HDR");
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(kEthIp);
        addr.sll_ifindex = n.index;
        if (::bind(n.packets.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            return fail("bind the packet socket");
        timeval deadline{5, 0};
        (void)::setsockopt(n.packets.get(), SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
    }).join();
    return n;
}

uint16_t ip_checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {  // network order
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// A virtio-net header (little-endian fields) and an Ethernet + IPv4 + TCP frame with `payload`
// bytes, to be segmented at `mss` (gso_type TCPV4, checksum left to the device).
std::vector<uint8_t> tcp_gso_frame(size_t payload, uint16_t mss) {
    constexpr size_t kHeaders = 14 + 20 + 20;
    std::vector<uint8_t> f(12 + kHeaders + payload, 0);
    uint8_t* h = f.data();
    h[0] = virtio::kNetHdrNeedsCsum;
    h[1] = virtio::kNetGsoTcpv4;
    auto le16 = [](uint8_t* p, uint16_t v) {
        p[0] = static_cast<uint8_t>(v);
        p[1] = static_cast<uint8_t>(v >> 8);
    };
    le16(h + 2, kHeaders);  // hdr_len
    le16(h + 4, mss);       // gso_size
    le16(h + 6, 14 + 20);   // csum_start: the TCP header
    le16(h + 8, 16);        // csum_offset: TCP's checksum field
    uint8_t* e = h + 12;
    const uint8_t dst[6] = {2, 0, 0, 0, 0, 1}, src[6] = {2, 0, 0, 0, 0, 2};
    std::memcpy(e, dst, 6);
    std::memcpy(e + 6, src, 6);
    put16(e + 12, kEthIp);
    uint8_t* ip = e + 14;
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(40 + payload));
    ip[6] = 0x40;  // don't fragment
    ip[8] = 64;
    ip[9] = 6;  // TCP
    const uint8_t a[4] = {10, 0, 0, 2}, b[4] = {10, 0, 0, 1};
    std::memcpy(ip + 12, a, 4);
    std::memcpy(ip + 16, b, 4);
    put16(ip + 10, ip_checksum(ip, 20));
    uint8_t* tcp = ip + 20;
    put16(tcp, 40000);
    put16(tcp + 2, 80);
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;  // ACK
    put16(tcp + 14, 65535);
    for (size_t i = 0; i < payload; ++i) tcp[20 + i] = static_cast<uint8_t>(i);
    return f;
}

class TapNetTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace and a tap";
        if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
        net = make_tap_network();
        if (!net.error.empty()) GTEST_SKIP() << "no tap here: " << net.error;
        auto d =
            std::make_unique<NetDevice>(net.tap.get(), std::array<uint8_t, 6>{2, 0, 0, 0, 0, 1});
        device = d.get();
        device->attach(loop);
        transport = std::make_unique<MmioTransport>(mem, std::move(d), irq);
        driver = std::make_unique<TestDriver>(mem, *transport);
    }
    // Sends `frame` (virtio-net header first) into the tap's interface, towards the guest.
    void send_to_guest(const std::vector<uint8_t>& frame) {
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(kEthIp);
        addr.sll_ifindex = net.index;
        auto packet = packet_form(frame);
        ASSERT_EQ(::sendto(net.packets.get(), packet.data(), packet.size(), 0,
                           reinterpret_cast<sockaddr*>(&addr), sizeof addr),
                  static_cast<ssize_t>(packet.size()))
            << std::strerror(errno);
    }
    // Removes the 12-byte header's num_buffers: a packet socket's header is the 10-byte one.
    static std::vector<uint8_t> packet_form(std::vector<uint8_t> frame) {
        frame.erase(frame.begin() + 10, frame.begin() + 12);
        return frame;
    }

    GuestMemory mem{{{0, 4 << 20}}};
    CountingLine irq;
    rkt::EventLoop loop;
    TapNetwork net;
    NetDevice* device = nullptr;
    std::unique_ptr<MmioTransport> transport;
    std::unique_ptr<TestDriver> driver;
};

}  // namespace

TEST_F(TapNetTest, OffersTheTapsOffloads) {
    ASSERT_TRUE(device->vnet_header());
    uint64_t f = driver->device_features();
    for (uint64_t bit : {virtio::kNetFeatureCsum, virtio::kNetFeatureHostTso4,
                         virtio::kNetFeatureHostTso6, virtio::kNetFeatureHostEcn, kMrg, kMac})
        EXPECT_TRUE(f & bit) << bit;
    EXPECT_TRUE(device->tap_offloads() & TUN_F_CSUM);
    if (device->tap_offloads() & TUN_F_TSO4) {
        EXPECT_TRUE(f & virtio::kNetFeatureGuestCsum);
        EXPECT_TRUE(f & virtio::kNetFeatureGuestTso4);
        EXPECT_TRUE(f & virtio::kNetFeatureGuestTso6);
        EXPECT_TRUE(f & virtio::kNetFeatureGuestEcn);
    }
    EXPECT_FALSE(f & (1ull << 10 | 1ull << 14));  // no UFO either way
}

// What the guest accepts for receive is what the tap may hand over: a 10 KB TCP segment
// arrives whole (GSO) when it took GUEST_TSO4, and cut to the MTU when it did not.
TEST_F(TapNetTest, ReceiveOffloadsFollowWhatTheGuestAccepted) {
    if (!(device->tap_offloads() & TUN_F_TSO4)) GTEST_SKIP() << "this kernel's tap has no TSO";
    auto frame = tcp_gso_frame(10000, 1448);
    ASSERT_EQ(driver->initialize(
                  kMac | kMrg | virtio::kNetFeatureGuestCsum | virtio::kNetFeatureGuestTso4, 2) &
                  15,
              15u);
    for (uint64_t i = 0; i < 4; ++i) driver->submit(0, {{0x300000 + i * 0x1000, 4096, true}});
    driver->notify(0);
    send_to_guest(frame);
    EXPECT_EQ(loop.run_once(2000), 1);
    std::vector<uint32_t> lengths;
    while (auto used = driver->next_used(0)) lengths.push_back(used->second);
    ASSERT_EQ(lengths, (std::vector<uint32_t>{4096, 4096, 12 + 10054 - 8192}));
    expect_header(mem, 0x300000, virtio::kNetGsoTcpv4, 3);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x300000).value() & virtio::kNetHdrNeedsCsum,
              virtio::kNetHdrNeedsCsum);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x302000 + 1873).value(), frame.back());

    // Renegotiated without offloads: the host's stack segments and checksums it first.
    ASSERT_EQ(driver->initialize(kMac | kMrg, 2) & 15, 15u);
    for (uint64_t i = 0; i < 12; ++i) driver->submit(0, {{0x300000 + i * 0x1000, 4096, true}});
    driver->notify(0);
    send_to_guest(frame);
    EXPECT_EQ(loop.run_once(2000), 1);
    auto first = driver->next_used(0);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->second, 12u + 54 + 1448);
    expect_header(mem, 0x300000, virtio::kNetGsoNone, 1);
    EXPECT_EQ(mem.read_obj<uint8_t>(0x300000).value(), 0);  // flags: none without GUEST_CSUM
}

TEST_F(TapNetTest, GuestGsoFrameReachesTheTapWhole) {
    ASSERT_EQ(
        driver->initialize(kMac | virtio::kNetFeatureCsum | virtio::kNetFeatureHostTso4, 2) & 15,
        15u);
    auto frame = tcp_gso_frame(10000, 1448);
    ASSERT_TRUE(mem.write(0x200000, frame));
    // Split across descriptors, the header in a buffer of its own.
    uint32_t rest = static_cast<uint32_t>(frame.size() - 12 - 3000);
    driver->submit(
        1,
        {{0x200000, 12, false}, {0x200000 + 12, 3000, false}, {0x200000 + 12 + 3000, rest, false}});
    driver->notify(1);
    EXPECT_TRUE(driver->next_used(1).has_value());
    std::vector<uint8_t> got(70000);
    ssize_t n = ::recv(net.packets.get(), got.data(), got.size(), 0);
    ASSERT_EQ(n, static_cast<ssize_t>(frame.size() - 2)) << std::strerror(errno);
    EXPECT_EQ(got[1], virtio::kNetGsoTcpv4);
    EXPECT_EQ(got[4] | got[5] << 8, 1448);
    auto expected = packet_form(frame);
    EXPECT_TRUE(std::equal(expected.begin() + 10, expected.end(), got.begin() + 10));
    EXPECT_EQ(device->dropped(), 0u);
}

TEST_F(TapNetTest, HostileGsoHeaderIsDroppedAndTheNextFrameStillGoes) {
    ASSERT_EQ(
        driver->initialize(kMac | virtio::kNetFeatureCsum | virtio::kNetFeatureHostTso4, 2) & 15,
        15u);
    auto bad = tcp_gso_frame(3000, 1448);
    bad[6] = 0xff;  // csum_start far past the frame's end
    bad[7] = 0xff;
    ASSERT_TRUE(mem.write(0x200000, bad));
    driver->submit(1, {{0x200000, static_cast<uint32_t>(bad.size()), false}});
    auto good = tcp_gso_frame(3000, 1448);
    ASSERT_TRUE(mem.write(0x210000, good));
    driver->submit(1, {{0x210000, static_cast<uint32_t>(good.size()), false}});
    driver->notify(1);
    EXPECT_TRUE(driver->next_used(1).has_value());
    EXPECT_TRUE(driver->next_used(1).has_value());
    EXPECT_EQ(device->dropped(), 1u);
    std::vector<uint8_t> got(70000);
    ssize_t n = ::recv(net.packets.get(), got.data(), got.size(), 0);
    EXPECT_EQ(n, static_cast<ssize_t>(good.size() - 2));
    EXPECT_EQ(driver->read(reg::kStatus) & TestDriver::kNeedsReset, 0u);
}
