// The digests of the files every launch measures (the stage1 entrypoint, the guest kernels,
// guest-init: some 25 MB for kvm), kept in <data-dir>/tpm/file-digests.json by device, inode,
// size, mtime and ctime, so that a launch hashes them only when they changed. ctime cannot be set
// by a write, only moved forward by it; a file whose ctime is under a second old is not cached,
// so that a second write within one timestamp tick cannot hide behind the first.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace rkt::tpm {

class FileDigestCache {
public:
    // Loads the cache file; one that is missing or unreadable is an empty cache.
    explicit FileDigestCache(std::filesystem::path file);
    // "sha256:<hex>" of the file, from the cache when the file is unchanged.
    std::string digest(const std::filesystem::path& path);
    // Writes the cache back when it changed (the caller holds the TPM lock).
    void save();

private:
    std::filesystem::path file_;
    nlohmann::json entries_ = nlohmann::json::object();
    bool changed_ = false;
};

}  // namespace rkt::tpm
