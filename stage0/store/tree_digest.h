// One digest of a rendered tree, for the stage1s that run an image's tree as it is (nspawn,
// fly): the measured launch extends it as the kvm stage1's app disks extend their dm-verity
// root hash. Canonical and deterministic: the same files, types, modes, owners, sizes, link
// targets and contents give the same digest, whatever the order on disk or the time stamps.
#pragma once

#include <filesystem>
#include <string>

namespace rkt::store {

// "sha256:<hex>" of the tree under `root` (the root's own mode and owner included). Walks
// without following a symlink, each directory opened beneath `root` with no symlink in its
// path. A hard-linked file counts once per name; times and extended attributes do not count.
std::string tree_digest(const std::filesystem::path& root);

// True for what tree_digest() returns.
bool is_valid_tree_digest(const std::string& digest);

}  // namespace rkt::store
