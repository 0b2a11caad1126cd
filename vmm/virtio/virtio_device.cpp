#include "vmm/virtio/virtio_device.h"

#include <algorithm>

namespace rkt::vmm {

void VirtioDevice::copy_config(std::span<const uint8_t> image, uint64_t offset,
                               std::span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = offset + i < image.size() ? image[offset + i] : 0;
}

}  // namespace rkt::vmm
