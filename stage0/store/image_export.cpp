// Writing an image as an OCI archive: a tar of an OCI image layout.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "stage0/store/store_impl.h"

namespace rkt::store {
namespace {

struct ArchiveWriteFree {
    void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
    void operator()(archive_entry* e) const { archive_entry_free(e); }
};

class TarWriter {
public:
    explicit TarWriter(int fd) : a_(archive_write_new()) {
        if (!a_ || archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
            archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK)
            fail("cannot start the archive");
    }
    void add_dir(const std::string& path) { header(path, AE_IFDIR, 0755, 0); }
    void add_bytes(const std::string& path, std::string_view data) {
        header(path, AE_IFREG, 0644, data.size());
        write(data.data(), data.size());
    }
    void add_file(const std::string& path, const stdfs::path& src, uint64_t size) {
        UniqueFd fd = fs::open_file(src, O_RDONLY);
        header(path, AE_IFREG, 0644, size);
        std::vector<char> buf(1 << 20);
        uint64_t left = size;
        while (left > 0) {
            ssize_t n = io::read_some(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), left));
            if (n < 0) throw system_error("cannot read " + src.string());
            if (n == 0) throw Error(src.string() + " is shorter than the index says");
            write(buf.data(), static_cast<size_t>(n));
            left -= static_cast<uint64_t>(n);
        }
    }
    void close() {
        if (archive_write_close(a_.get()) != ARCHIVE_OK) fail("cannot finish the archive");
    }

private:
    void header(const std::string& path, mode_t type, mode_t perm, uint64_t size) {
        std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
        archive_entry_set_pathname(e.get(), path.c_str());
        archive_entry_set_filetype(e.get(), type);
        archive_entry_set_perm(e.get(), perm);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
        archive_entry_set_mtime(e.get(), 0, 0);
        if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) fail("cannot write " + path);
    }
    void write(const void* data, size_t size) {
        if (archive_write_data(a_.get(), data, size) != static_cast<la_ssize_t>(size))
            fail("cannot write the archive");
    }
    [[noreturn]] void fail(const std::string& what) {
        const char* msg = archive_error_string(a_.get());
        throw Error(what + (msg ? std::string(": ") + msg : std::string()));
    }
    std::unique_ptr<archive, ArchiveWriteFree> a_;
};

}  // namespace

void StoreImpl::export_oci_archive(const std::string& id, const stdfs::path& out) {
    ImageRecord r = require(id);
    with_context("cannot export " + id + " to " + out.string(), [&] {
        std::string manifest = read_store_blob(r.manifest_digest, limits_.max_manifest_bytes);
        oci::Manifest m =
            oci::parse_manifest(manifest, r.manifest_media_type, limits_.max_manifest_bytes);

        nlohmann::json entry = {{"mediaType", r.manifest_media_type},
                                {"digest", r.manifest_digest},
                                {"size", manifest.size()}};
        auto names = index_.names_of(id);
        if (!names.empty())
            entry["annotations"] = {{std::string(oci::media::kRefNameAnnotation),
                                     names.front().name + ":" + names.front().tag}};
        nlohmann::json index = {{"schemaVersion", 2},
                                {"mediaType", oci::media::kOciIndex},
                                {"manifests", nlohmann::json::array({entry})}};

        stdfs::path tmp = out;
        tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
        try {
            UniqueFd fd = fs::open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
            TarWriter tar(fd.get());
            tar.add_bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
            tar.add_bytes("index.json", index.dump());
            tar.add_dir("blobs");
            tar.add_dir("blobs/sha256");
            std::set<std::string> written;
            auto add_blob = [&](const std::string& digest, uint64_t size) {
                if (!written.insert(digest).second) return;
                tar.add_file("blobs/sha256/" + digest.substr(7), layout_.blob_path(digest), size);
            };
            add_blob(r.manifest_digest, manifest.size());
            add_blob(m.config.digest, m.config.size);
            for (const auto& l : m.layers) add_blob(l.digest, l.size);
            tar.close();
            if (::fsync(fd.get()) < 0) throw system_error("cannot fsync " + tmp.string());
            if (::rename(tmp.c_str(), out.c_str()) < 0)
                throw system_error("cannot rename " + tmp.string());
        } catch (...) {
            ::unlink(tmp.c_str());
            throw;
        }
    });
}

}  // namespace rkt::store
