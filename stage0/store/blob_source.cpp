#include "stage0/store/blob_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/error.h"
#include "common/io.h"
#include "stage0/store/safe_fs.h"

namespace rkt::store {
namespace {

UniqueFd open_blob_file(int dir_fd, const std::string& rel, const std::string& digest) {
    int fd = safe_fs::open_beneath_raw(dir_fd, rel, O_RDONLY);
    if (fd == -ENOENT) throw Error("blob " + digest + " is missing (" + rel + ")");
    UniqueFd out = fd < 0 ? safe_fs::open_beneath(dir_fd, rel, O_RDONLY) : UniqueFd(fd);
    struct stat st {};
    if (::fstat(out.get(), &st) < 0) throw system_error("cannot stat " + rel);
    // Regular files, or a pipe (a blob streamed in by another program).
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        throw Error("blob " + digest + " (" + rel + ") is not a regular file");
    return out;
}

}  // namespace

void verify_bytes(std::string_view data, const oci::Descriptor& d, const std::string& what) {
    if (data.size() != d.size)
        throw Error(what + " " + d.digest + ": size is " + std::to_string(data.size()) +
                    " bytes, but its descriptor says " + std::to_string(d.size));
    std::string actual = sha256_digest(data);
    if (actual != d.digest)
        throw Error(what + " " + d.digest + ": digest mismatch (content hashes to " + actual + ")");
}

std::string BlobSource::read_verified(const oci::Descriptor& d, uint64_t limit,
                                      const std::string& what) const {
    if (d.size > limit)
        throw Error(what + " " + d.digest + " is " + std::to_string(d.size) +
                    " bytes, more than the limit of " + std::to_string(limit));
    UniqueFd fd = open(d);
    std::string data;
    char buf[65536];
    for (;;) {
        ssize_t n = io::read_some(fd.get(), buf, sizeof buf);
        if (n < 0) {
            throw system_error("cannot read " + what + " " + d.digest);
        }
        if (n == 0) break;
        // One byte past the declared size is enough to know it is wrong.
        if (data.size() + static_cast<size_t>(n) > d.size + 1) {
            data.append(buf, static_cast<size_t>(n));
            break;
        }
        data.append(buf, static_cast<size_t>(n));
    }
    verify_bytes(data, d, what);
    return data;
}

UniqueFd LayoutBlobSource::open(const oci::Descriptor& d) const {
    return open_blob_file(dir_fd_, "blobs/sha256/" + d.hex(), d.digest);
}

UniqueFd PathBlobSource::open(const oci::Descriptor& d) const {
    auto it = paths_.find(d.digest);
    if (it == paths_.end()) throw Error("blob " + d.digest + " is not in the archive");
    return open_blob_file(dir_fd_, it->second, d.digest);
}

}  // namespace rkt::store
