#include "vmm/virtio/mmio_transport.h"

#include <cstring>

#include "common/log.h"

namespace rkt::vmm {
namespace {

constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVersion = 2;
constexpr uint32_t kVendorId = 0x00746b72;  // "rkt"

// Register offsets.
constexpr uint64_t kRegMagic = 0x000, kRegVersion = 0x004, kRegDeviceId = 0x008,
                   kRegVendorId = 0x00c, kRegDeviceFeatures = 0x010, kRegDeviceFeaturesSel = 0x014,
                   kRegDriverFeatures = 0x020, kRegDriverFeaturesSel = 0x024, kRegQueueSel = 0x030,
                   kRegQueueNumMax = 0x034, kRegQueueNum = 0x038, kRegQueueReady = 0x044,
                   kRegQueueNotify = 0x050, kRegInterruptStatus = 0x060, kRegInterruptAck = 0x064,
                   kRegStatus = 0x070, kRegQueueDescLow = 0x080, kRegQueueDescHigh = 0x084,
                   kRegQueueDriverLow = 0x090, kRegQueueDriverHigh = 0x094,
                   kRegQueueDeviceLow = 0x0a0, kRegQueueDeviceHigh = 0x0a4, kRegShmSel = 0x0ac,
                   kRegShmLenLow = 0x0b0, kRegShmLenHigh = 0x0b4, kRegShmBaseLow = 0x0b8,
                   kRegShmBaseHigh = 0x0bc, kRegConfigGeneration = 0x0fc, kConfigSpace = 0x100;

constexpr uint32_t kStatusFeaturesOk = 8, kStatusDriverOk = 4, kStatusNeedsReset = 64;

void set_low(uint64_t& v, uint32_t low) {
    v = (v & 0xffffffff00000000ull) | low;
}
void set_high(uint64_t& v, uint32_t high) {
    v = (v & 0xffffffffull) | (uint64_t{high} << 32);
}

}  // namespace

MmioTransport::MmioTransport(const GuestMemory& memory, std::unique_ptr<VirtioDevice> device,
                             InterruptLine& irq)
    : memory_(memory),
      device_(std::move(device)),
      interrupt_(irq),
      queues_(device_->queue_count()) {}

uint32_t MmioTransport::status() const {
    auto& self = const_cast<MmioTransport&>(*this);
    std::lock_guard lock(self.mutex_);
    return status_ | (interrupt_.needs_reset() ? kStatusNeedsReset : 0);
}

std::string MmioTransport::last_error() const {
    auto& self = const_cast<MmioTransport&>(*this);
    std::lock_guard lock(self.mutex_);
    return last_error_;
}

std::optional<QueueConfig*> MmioTransport::selected_queue() {
    if (queue_select_ >= queues_.size()) return std::nullopt;
    return &queues_[queue_select_];
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
    if (offset >= kConfigSpace) {
        device_->read_config(offset - kConfigSpace, data);
        return;
    }
    std::fill(data.begin(), data.end(), 0);
    if (data.size() != 4 || offset % 4 != 0) return;  // registers are 32-bit only
    uint32_t value;
    {
        std::lock_guard lock(mutex_);
        value = read_register(offset);
    }
    std::memcpy(data.data(), &value, 4);
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
    if (offset >= kConfigSpace) {
        device_->write_config(offset - kConfigSpace, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) return;
    uint32_t value;
    std::memcpy(&value, data.data(), 4);
    if (offset == kRegQueueNotify) {
        notify_queue(value);
        return;
    }
    std::lock_guard lock(mutex_);
    write_register(offset, value);
}

uint32_t MmioTransport::read_register(uint64_t offset) {
    uint64_t offered = device_->features() | virtio::kFeatureVersion1;
    auto queue = selected_queue();
    switch (offset) {
        case kRegMagic:
            return kMagic;
        case kRegVersion:
            return kVersion;
        case kRegDeviceId:
            return device_->device_id();
        case kRegVendorId:
            return kVendorId;
        case kRegDeviceFeatures:
            return device_features_select_ == 0   ? static_cast<uint32_t>(offered)
                   : device_features_select_ == 1 ? static_cast<uint32_t>(offered >> 32)
                                                  : 0;
        case kRegQueueNumMax:
            return queue ? device_->queue_limits().max_size : 0;
        case kRegQueueReady:
            return queue && (*queue)->ready ? 1 : 0;
        case kRegInterruptStatus:
            return interrupt_.status();
        case kRegStatus:
            return status_ | (interrupt_.needs_reset() ? kStatusNeedsReset : 0);
        case kRegShmLenLow:
        case kRegShmLenHigh:
        case kRegShmBaseLow:
        case kRegShmBaseHigh:
            return 0xffffffff;  // no shared memory regions
        case kRegConfigGeneration:
            return config_generation_;
        default:
            return 0;
    }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
    bool queue_writable = !(status_ & kStatusDriverOk);
    auto queue = selected_queue();
    switch (offset) {
        case kRegDeviceFeaturesSel:
            device_features_select_ = value;
            break;
        case kRegDriverFeaturesSel:
            driver_features_select_ = value;
            break;
        case kRegDriverFeatures:
            if (status_ & kStatusFeaturesOk) break;  // features are fixed from FEATURES_OK on
            if (driver_features_select_ == 0)
                set_low(driver_features_, value);
            else if (driver_features_select_ == 1)
                set_high(driver_features_, value);
            break;
        case kRegQueueSel:
            queue_select_ = value;
            break;
        case kRegQueueNum:
            if (queue && queue_writable)
                (*queue)->size = static_cast<uint16_t>(std::min<uint32_t>(value, 0xffff));
            break;
        case kRegQueueReady:
            if (queue && queue_writable) (*queue)->ready = value == 1;
            break;
        case kRegQueueDescLow:
            if (queue && queue_writable) set_low((*queue)->descriptor_table, value);
            break;
        case kRegQueueDescHigh:
            if (queue && queue_writable) set_high((*queue)->descriptor_table, value);
            break;
        case kRegQueueDriverLow:
            if (queue && queue_writable) set_low((*queue)->available_ring, value);
            break;
        case kRegQueueDriverHigh:
            if (queue && queue_writable) set_high((*queue)->available_ring, value);
            break;
        case kRegQueueDeviceLow:
            if (queue && queue_writable) set_low((*queue)->used_ring, value);
            break;
        case kRegQueueDeviceHigh:
            if (queue && queue_writable) set_high((*queue)->used_ring, value);
            break;
        case kRegInterruptAck:
            interrupt_.acknowledge(value);
            break;
        case kRegStatus:
            set_status(value);
            break;
        case kRegShmSel:
            break;
        default:
            break;  // read-only or unknown registers
    }
}

void MmioTransport::reset_locked() {
    if (activated_) device_->reset();
    activated_ = false;
    status_ = 0;
    driver_features_ = 0;
    device_features_select_ = driver_features_select_ = queue_select_ = 0;
    for (auto& q : queues_) q = QueueConfig{};
    interrupt_.clear();
}

void MmioTransport::set_status(uint32_t value) {
    if (value == 0) {
        reset_locked();
        return;
    }
    uint32_t added = value & ~status_;
    if (added & kStatusFeaturesOk) {
        uint64_t offered = device_->features() | virtio::kFeatureVersion1;
        if ((driver_features_ & ~offered) != 0 || !(driver_features_ & virtio::kFeatureVersion1)) {
            // Leaving FEATURES_OK clear tells the driver its choice was refused.
            value &= ~kStatusFeaturesOk;
            last_error_ = "driver accepted features the device does not offer";
        }
    }
    status_ = value & ~kStatusNeedsReset;
    if ((added & kStatusDriverOk) && (status_ & kStatusFeaturesOk) && !activated_) {
        std::vector<Virtqueue> queues;
        for (size_t i = 0; i < queues_.size(); ++i) {
            QueueConfig config = queues_[i];
            if (config.ready) {
                if (auto why = Virtqueue::validate(config, memory_, device_->queue_limits())) {
                    last_error_ = "queue " + std::to_string(i) + ": " + *why;
                    log::debug("virtio-mmio: refusing activation: " + last_error_);
                    interrupt_.report_broken();
                    return;
                }
            }
            queues.emplace_back(memory_, config, device_->queue_limits());
        }
        activated_ = true;
        device_->activate({memory_, std::move(queues), interrupt_, driver_features_});
    }
}

void MmioTransport::notify_queue(uint32_t index) {
    {
        std::lock_guard lock(mutex_);
        if (!activated_ || index >= queues_.size()) return;
    }
    device_->process_queue(index);
}

}  // namespace rkt::vmm
