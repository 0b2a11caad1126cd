// Where an import reads an image's blobs from: an OCI layout's blobs/ directory, files named in a
// `docker save` manifest, or the store itself. All paths are resolved beneath the source's root.
#pragma once

#include <map>
#include <string>

#include "common/unique_fd.h"
#include "stage0/store/oci_image.h"

namespace rkt::store {

class BlobSource {
public:
    virtual ~BlobSource() = default;
    // Opens the blob for reading; throws a clear error when it is missing.
    virtual UniqueFd open(const oci::Descriptor& d) const = 0;
    // True when the files are ours (unpacked into tmp/): verified blobs may be hard-linked into
    // the store instead of copied.
    virtual bool owned() const = 0;
    // Reads a small blob (index, manifest, config) and checks its digest and size.
    std::string read_verified(const oci::Descriptor& d, uint64_t limit,
                              const std::string& what) const;
};

// blobs/<alg>/<hex> beneath a directory (an OCI image layout).
class LayoutBlobSource : public BlobSource {
public:
    LayoutBlobSource(int dir_fd, bool owned) : dir_fd_(dir_fd), owned_(owned) {}
    UniqueFd open(const oci::Descriptor& d) const override;
    bool owned() const override { return owned_; }

private:
    int dir_fd_;
    bool owned_;
};

// Blobs at explicit relative paths beneath a directory (docker save's manifest.json).
class PathBlobSource : public BlobSource {
public:
    PathBlobSource(int dir_fd, std::map<std::string, std::string> paths)
        : dir_fd_(dir_fd), paths_(std::move(paths)) {}
    UniqueFd open(const oci::Descriptor& d) const override;
    bool owned() const override { return true; }

private:
    int dir_fd_;
    std::map<std::string, std::string> paths_;  // digest -> path
};

// Checks the bytes of an in-memory blob against its descriptor.
void verify_bytes(std::string_view data, const oci::Descriptor& d, const std::string& what);

}  // namespace rkt::store
