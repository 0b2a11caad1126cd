// Builds small OCI image layouts, OCI archives and docker save archives inside tests: tar layers
// written with libarchive (plain, gzip or zstd), blobs named by digest, configs and manifests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt::store::testing {

namespace stdfs = std::filesystem;

enum class TarCompression { kNone, kGzip, kZstd };

struct TarEntry {
    enum class Type { kFile, kDir, kSymlink, kHardlink, kCharDevice, kBlockDevice, kFifo };
    Type type = Type::kFile;
    std::string path;
    std::string data;    // file content
    std::string target;  // symlink or hard link target
    mode_t mode = 0644;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t dev_major = 0;
    uint32_t dev_minor = 0;
    int64_t mtime = 1'600'000'000;
    std::map<std::string, std::string> xattrs;
};

TarEntry file(std::string path, std::string data, mode_t mode = 0644);
TarEntry dir(std::string path, mode_t mode = 0755);
TarEntry symlink(std::string path, std::string target);
TarEntry hardlink(std::string path, std::string target);
TarEntry whiteout_device(std::string path);

// The tar bytes (compressed as asked).
std::string make_tar(const std::vector<TarEntry>& entries,
                     TarCompression compression = TarCompression::kNone);

std::string sha256_digest_of(const std::string& data);

struct LayerBlob {
    std::string bytes;       // as stored
    std::string diff_id;     // sha256 of the uncompressed tar
    std::string media_type;  // OCI layer media type matching the compression
};
LayerBlob make_layer(const std::vector<TarEntry>& entries,
                     TarCompression compression = TarCompression::kGzip);

nlohmann::json make_config(const std::vector<std::string>& diff_ids,
                           const std::string& arch = "amd64", const std::string& os = "linux");

nlohmann::json descriptor(const std::string& media_type, const std::string& bytes,
                          const nlohmann::json& annotations = nullptr);

// Writes an OCI image layout under `dir`: oci-layout, index.json and blobs.
class LayoutWriter {
public:
    explicit LayoutWriter(stdfs::path dir);
    // Stores bytes as a blob; returns the digest.
    std::string add_blob(const std::string& bytes);
    // Stores layers, config and manifest; returns the manifest descriptor (not yet indexed).
    nlohmann::json add_image(
        const std::vector<LayerBlob>& layers, const nlohmann::json& config,
        const nlohmann::json& manifest_annotations = nullptr,
        const std::string& manifest_media_type = "application/vnd.oci.image.manifest.v1+json");
    void write_index(const std::vector<nlohmann::json>& manifests);
    const stdfs::path& dir() const { return dir_; }

private:
    stdfs::path dir_;
};

// A one-image layout: each element of `layers` is one layer's entries. Returns the image id
// ("sha256-<hex>" of the manifest).
std::string write_simple_layout(const stdfs::path& dir,
                                const std::vector<std::vector<TarEntry>>& layers,
                                TarCompression compression = TarCompression::kGzip,
                                const std::string& ref = "");

// Tars up a directory tree (e.g. a layout) into an archive file.
void tar_directory(const stdfs::path& dir, const stdfs::path& out,
                   TarCompression compression = TarCompression::kNone);

void write_file(const stdfs::path& path, const std::string& data);
std::string read_file(const stdfs::path& path);

}  // namespace rkt::store::testing
