// dm-verity in the guest, with the raw device-mapper ioctls (/dev/mapper/control): an app's
// disk read through a read-only "verity" target, so every block is checked against the root
// hash the host measured before it reaches erofs. Debian has no static libdevmapper, and the
// three ioctls are all guest-init needs.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/guest_protocol.h"

namespace rkt::guest_init {

// The target's table line: "1 M:m M:m 4096 4096 <data blocks> <hash start> sha256 <root>
// <salt> 1 panic_on_corruption". The data and the hash tree are on the one disk. Checks the
// parameters again (they come from the host) before they go into a kernel string.
std::string verity_table(dev_t disk, const guest::DiskVerity& verity);

// Creates the verity device `name` (a device-mapper name, at most 127 bytes) over `disk` (a
// block device node), after checking the disk is large enough for the data and its tree.
// Returns the verified device's node, /dev/dm-N. Throws rkt::Error naming the step; a device
// created before the failing step is removed again.
std::string create_verity_device(const std::string& name, const std::string& disk,
                                 const guest::DiskVerity& verity);

}  // namespace rkt::guest_init
