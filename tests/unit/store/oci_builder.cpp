#include "oci_builder.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/digest.h"

namespace rkt::store::testing {

TarEntry file(std::string path, std::string data, mode_t mode) {
    TarEntry e;
    e.path = std::move(path);
    e.data = std::move(data);
    e.mode = mode;
    return e;
}

TarEntry dir(std::string path, mode_t mode) {
    TarEntry e;
    e.type = TarEntry::Type::kDir;
    e.path = std::move(path);
    e.mode = mode;
    return e;
}

TarEntry symlink(std::string path, std::string target) {
    TarEntry e;
    e.type = TarEntry::Type::kSymlink;
    e.path = std::move(path);
    e.target = std::move(target);
    e.mode = 0777;
    return e;
}

TarEntry hardlink(std::string path, std::string target) {
    TarEntry e;
    e.type = TarEntry::Type::kHardlink;
    e.path = std::move(path);
    e.target = std::move(target);
    return e;
}

TarEntry whiteout_device(std::string path) {
    TarEntry e;
    e.type = TarEntry::Type::kCharDevice;
    e.path = std::move(path);
    e.mode = 0;
    return e;
}

std::string make_tar(const std::vector<TarEntry>& entries, TarCompression compression) {
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (compression == TarCompression::kGzip) archive_write_add_filter_gzip(a);
    if (compression == TarCompression::kZstd) archive_write_add_filter_zstd(a);
    std::string out;
    auto append = [](archive*, void* self, const void* data, size_t n) -> la_ssize_t {
        static_cast<std::string*>(self)->append(static_cast<const char*>(data), n);
        return static_cast<la_ssize_t>(n);
    };
    // No padding of the last record: the plain tar is then byte for byte the stream inside the
    // compressed ones, so its digest is their DiffID.
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open(a, &out, nullptr, append, nullptr) != ARCHIVE_OK)
        throw std::runtime_error(archive_error_string(a));
    for (const auto& t : entries) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, t.path.c_str());
        archive_entry_set_perm(e, t.mode);
        archive_entry_set_uid(e, t.uid);
        archive_entry_set_gid(e, t.gid);
        archive_entry_set_mtime(e, t.mtime, 0);
        for (const auto& [k, v] : t.xattrs)
            archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
        switch (t.type) {
            case TarEntry::Type::kFile:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
                break;
            case TarEntry::Type::kDir:
                archive_entry_set_filetype(e, AE_IFDIR);
                break;
            case TarEntry::Type::kSymlink:
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_symlink(e, t.target.c_str());
                break;
            case TarEntry::Type::kHardlink:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_hardlink(e, t.target.c_str());
                break;
            case TarEntry::Type::kCharDevice:
            case TarEntry::Type::kBlockDevice:
                archive_entry_set_filetype(
                    e, t.type == TarEntry::Type::kCharDevice ? AE_IFCHR : AE_IFBLK);
                archive_entry_set_rdevmajor(e, t.dev_major);
                archive_entry_set_rdevminor(e, t.dev_minor);
                break;
            case TarEntry::Type::kFifo:
                archive_entry_set_filetype(e, AE_IFIFO);
                break;
        }
        if (archive_write_header(a, e) != ARCHIVE_OK)
            throw std::runtime_error(std::string("tar header: ") + archive_error_string(a));
        if (t.type == TarEntry::Type::kFile && !t.data.empty())
            archive_write_data(a, t.data.data(), t.data.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

std::string sha256_digest_of(const std::string& data) {
    return rkt::sha256_digest(data);
}

LayerBlob make_layer(const std::vector<TarEntry>& entries, TarCompression compression) {
    LayerBlob l;
    l.diff_id = sha256_digest_of(make_tar(entries, TarCompression::kNone));
    l.bytes = make_tar(entries, compression);
    switch (compression) {
        case TarCompression::kNone:
            l.media_type = "application/vnd.oci.image.layer.v1.tar";
            break;
        case TarCompression::kGzip:
            l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
            break;
        case TarCompression::kZstd:
            l.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
            break;
    }
    return l;
}

nlohmann::json make_config(const std::vector<std::string>& diff_ids, const std::string& arch,
                           const std::string& os) {
    return {{"architecture", arch},
            {"os", os},
            {"config",
             {{"Entrypoint", {"/bin/sh"}},
              {"Cmd", {"-c", "echo hi"}},
              {"Env", {"PATH=/usr/bin:/bin", "GREETING=hello=world"}},
              {"User", "1000:1000"},
              {"WorkingDir", "/work"},
              {"Labels", {{"org.example.label", "yes"}}},
              {"ExposedPorts", {{"80/tcp", nlohmann::json::object()}}},
              {"Volumes", {{"/data", nlohmann::json::object()}}}}},
            {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
}

nlohmann::json descriptor(const std::string& media_type, const std::string& bytes,
                          const nlohmann::json& annotations) {
    nlohmann::json d = {
        {"mediaType", media_type}, {"digest", sha256_digest_of(bytes)}, {"size", bytes.size()}};
    if (!annotations.is_null()) d["annotations"] = annotations;
    return d;
}

void write_file(const stdfs::path& path, const std::string& data) {
    stdfs::create_directories(path.parent_path());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const stdfs::path& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

LayoutWriter::LayoutWriter(stdfs::path dir) : dir_(std::move(dir)) {
    stdfs::create_directories(dir_ / "blobs" / "sha256");
    write_file(dir_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

std::string LayoutWriter::add_blob(const std::string& bytes) {
    std::string digest = sha256_digest_of(bytes);
    write_file(dir_ / "blobs" / "sha256" / digest.substr(7), bytes);
    return digest;
}

nlohmann::json LayoutWriter::add_image(const std::vector<LayerBlob>& layers,
                                       const nlohmann::json& config,
                                       const nlohmann::json& manifest_annotations,
                                       const std::string& manifest_media_type) {
    bool docker = manifest_media_type.find("docker") != std::string::npos;
    std::string config_bytes = config.dump();
    add_blob(config_bytes);
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", manifest_media_type},
        {"config", descriptor(docker ? "application/vnd.docker.container.image.v1+json"
                                     : "application/vnd.oci.image.config.v1+json",
                              config_bytes)},
        {"layers", nlohmann::json::array()}};
    for (const auto& l : layers) {
        add_blob(l.bytes);
        manifest["layers"].push_back(descriptor(l.media_type, l.bytes));
    }
    if (!manifest_annotations.is_null()) manifest["annotations"] = manifest_annotations;
    std::string manifest_bytes = manifest.dump();
    add_blob(manifest_bytes);
    return descriptor(manifest_media_type, manifest_bytes);
}

void LayoutWriter::write_index(const std::vector<nlohmann::json>& manifests) {
    nlohmann::json index = {{"schemaVersion", 2},
                            {"mediaType", "application/vnd.oci.image.index.v1+json"},
                            {"manifests", manifests}};
    write_file(dir_ / "index.json", index.dump());
}

std::string write_simple_layout(const stdfs::path& dir,
                                const std::vector<std::vector<TarEntry>>& layers,
                                TarCompression compression, const std::string& ref) {
    LayoutWriter w(dir);
    std::vector<LayerBlob> blobs;
    std::vector<std::string> diff_ids;
    for (const auto& entries : layers) {
        blobs.push_back(make_layer(entries, compression));
        diff_ids.push_back(blobs.back().diff_id);
    }
    nlohmann::json m = w.add_image(blobs, make_config(diff_ids));
    if (!ref.empty()) m["annotations"] = {{"org.opencontainers.image.ref.name", ref}};
    w.write_index({m});
    return "sha256-" + m["digest"].get<std::string>().substr(7);
}

void tar_directory(const stdfs::path& dir, const stdfs::path& out, TarCompression compression) {
    std::vector<TarEntry> entries;
    for (auto it = stdfs::recursive_directory_iterator(dir);
         it != stdfs::recursive_directory_iterator(); ++it) {
        std::string rel = it->path().lexically_relative(dir).string();
        if (it->is_symlink()) {
            entries.push_back(symlink(rel, stdfs::read_symlink(it->path()).string()));
        } else if (it->is_directory()) {
            entries.push_back(testing::dir(rel));
        } else {
            entries.push_back(file(rel, read_file(it->path())));
        }
    }
    write_file(out, make_tar(entries, compression));
}

}  // namespace rkt::store::testing
