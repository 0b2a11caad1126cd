// The dm-verity hash tree of an erofs image, written by the store itself: veritysetup's
// format 1 with SHA-256, 4 KiB blocks and no superblock (`veritysetup format --no-superblock
// --hash-offset=<data size>` produces the same bytes for the same salt). The tree is appended
// to the image file, so one file (one virtio-blk disk) carries data and tree to the guest, and
// neither VMM needs a second disk.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/verity_info.h"

namespace rkt::store {

using VeritySalt = std::array<uint8_t, kVeritySaltBytes>;

VeritySalt random_verity_salt();

// Pads the file open for reading and writing at `fd` with zeros to whole 4 KiB blocks, appends
// the hash tree of that data at hash_offset = the padded size, and returns the parameters.
// An empty file is one zero block (dm-verity needs at least one).
VerityInfo append_verity_tree(int fd, const VeritySalt& salt);

// A cheap check that `info` describes the file at `fd`: its size is the data plus the tree,
// and the top of the tree (one block: the top level, or the only data block) hashes to the
// root. Tells a sidecar from one of another build of the image; the guest checks the rest.
bool verity_tree_matches(int fd, const VerityInfo& info);

// Recomputes the root hash from the data blocks described by `info` (the file's hash tree is
// not read): what the guest's dm-verity would accept. For checking an image in the store.
std::string verity_root_hash(int fd, const VerityInfo& info);

}  // namespace rkt::store
