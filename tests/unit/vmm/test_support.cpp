#include "test_support.h"

#include <fcntl.h>

#include <fstream>

#include "common/error.h"

namespace rkt::vmm::test {

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

Pipe::Pipe() {
    // Also linked into the device fuzz target, which has no GoogleTest: an error throws.
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
}

std::string Pipe::drain() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    return out;
}

uint32_t TestDriver::read(uint64_t offset) {
    uint32_t v = 0;
    transport_.read(offset, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
}

void TestDriver::write(uint64_t offset, uint32_t value) {
    transport_.write(offset, {reinterpret_cast<const uint8_t*>(&value), 4});
}

uint64_t TestDriver::device_features() {
    write(reg::kDeviceFeaturesSel, 0);
    uint64_t low = read(reg::kDeviceFeatures);
    write(reg::kDeviceFeaturesSel, 1);
    uint64_t high = read(reg::kDeviceFeatures);
    return low | (high << 32);
}

uint32_t TestDriver::initialize(uint64_t features, size_t queues, uint16_t size) {
    features |= 1ull << 32;
    write(reg::kStatus, 0);
    write(reg::kStatus, kAcknowledge);
    write(reg::kStatus, kAcknowledge | kDriver);
    write(reg::kDriverFeaturesSel, 0);
    write(reg::kDriverFeatures, static_cast<uint32_t>(features));
    write(reg::kDriverFeaturesSel, 1);
    write(reg::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    write(reg::kStatus, kAcknowledge | kDriver | kFeaturesOk);
    if (!(read(reg::kStatus) & kFeaturesOk)) return read(reg::kStatus);
    queues_.assign(queues, Queue{});
    for (size_t q = 0; q < queues; ++q) {
        Queue& qu = queues_[q];
        qu.size = size;
        qu.desc = next_ring_;
        qu.avail = qu.desc + 16ull * size;
        qu.used = (qu.avail + 6 + 2ull * size + 3) & ~3ull;
        next_ring_ = (qu.used + 6 + 8ull * size + 0xfff) & ~0xfffull;
        write(reg::kQueueSel, static_cast<uint32_t>(q));
        write(reg::kQueueNum, size);
        write(reg::kQueueDescLow, static_cast<uint32_t>(qu.desc));
        write(reg::kQueueDescHigh, static_cast<uint32_t>(qu.desc >> 32));
        write(reg::kQueueDriverLow, static_cast<uint32_t>(qu.avail));
        write(reg::kQueueDriverHigh, static_cast<uint32_t>(qu.avail >> 32));
        write(reg::kQueueDeviceLow, static_cast<uint32_t>(qu.used));
        write(reg::kQueueDeviceHigh, static_cast<uint32_t>(qu.used >> 32));
        write(reg::kQueueReady, 1);
    }
    write(reg::kStatus, kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
    return read(reg::kStatus);
}

void TestDriver::write_descriptor(size_t q, uint16_t index, uint64_t address, uint32_t length,
                                  uint16_t flags, uint16_t next) {
    Queue& qu = queues_.at(q);
    uint8_t d[16];
    std::memcpy(d, &address, 8);
    std::memcpy(d + 8, &length, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
    (void)memory_.write(qu.desc + 16ull * index, d);
}

uint16_t TestDriver::submit(size_t q, const std::vector<Buffer>& buffers) {
    Queue& qu = queues_.at(q);
    uint16_t head = qu.next_desc;
    for (size_t i = 0; i < buffers.size(); ++i) {
        uint16_t index = static_cast<uint16_t>((head + i) % qu.size);
        uint16_t next = static_cast<uint16_t>((head + i + 1) % qu.size);
        uint16_t flags = static_cast<uint16_t>((i + 1 < buffers.size() ? 1 : 0) |
                                               (buffers[i].device_writable ? 2 : 0));
        write_descriptor(q, index, buffers[i].address, buffers[i].length, flags, next);
    }
    qu.next_desc = static_cast<uint16_t>((head + buffers.size()) % qu.size);
    make_available(q, head);
    return head;
}

void TestDriver::make_available(size_t q, uint16_t head) {
    Queue& qu = queues_.at(q);
    (void)memory_.write_obj<uint16_t>(qu.avail + 4 + 2ull * (qu.avail_idx % qu.size), head);
    set_available_index(q, static_cast<uint16_t>(qu.avail_idx + 1));
}

void TestDriver::set_available_index(size_t q, uint16_t index) {
    Queue& qu = queues_.at(q);
    qu.avail_idx = index;
    (void)memory_.store_release_u16(qu.avail + 2, index);
}

std::optional<std::pair<uint32_t, uint32_t>> TestDriver::next_used(size_t q) {
    Queue& qu = queues_.at(q);
    auto idx = memory_.load_acquire_u16(qu.used + 2);
    if (!idx || *idx == qu.seen_used) return std::nullopt;
    uint64_t slot = qu.used + 4 + 8ull * (qu.seen_used % qu.size);
    auto id = memory_.read_obj<uint32_t>(slot);
    auto len = memory_.read_obj<uint32_t>(slot + 4);
    ++qu.seen_used;
    return std::make_pair(*id, *len);
}

}  // namespace rkt::vmm::test
