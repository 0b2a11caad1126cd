#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>

#include "common/error.h"
#include "common/io.h"

namespace rkt::fs {

UniqueFd open_file(const stdfs::path& path, int flags, mode_t mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) throw system_error("cannot open " + path.string());
    return UniqueFd(fd);
}

UniqueFd open_dir(const stdfs::path& path) {
    return open_file(path, O_RDONLY | O_DIRECTORY);
}

std::string read_file_limited(const stdfs::path& path, size_t limit) {
    UniqueFd fd = open_file(path, O_RDONLY);
    std::string out;
    std::array<char, 65536> buf{};
    for (;;) {
        ssize_t n = io::read_some(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            throw system_error("cannot read " + path.string());
        }
        if (n == 0) break;
        if (out.size() + static_cast<size_t>(n) > limit)
            throw Error(path.string() + " is larger than the limit of " + std::to_string(limit) +
                        " bytes");
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

std::string read_file(const stdfs::path& path) {
    return read_file_limited(path, static_cast<size_t>(1) << 40);
}

std::optional<std::string> read_file_if_exists(const stdfs::path& path) {
    std::error_code ec;
    if (!stdfs::exists(path, ec)) return std::nullopt;
    return read_file(path);
}

void write_file(const stdfs::path& path, std::string_view data, mode_t mode) {
    UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    io::write_all(fd.get(), data, path.string());
}

namespace {

// The temporary file of write_file_atomic(): next to its target, named by this process's pid and
// a counter, created exclusively. A file of a dead process with the same pid and count is skipped.
// (std::random_device cost 20 us per name here, several times on every pod's start.)
UniqueFd create_temporary(const stdfs::path& path, mode_t mode, stdfs::path& tmp) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0;; ++attempt) {
        tmp = path;
        tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0) return UniqueFd(fd);
        if (errno != EEXIST || attempt == 100) throw system_error("cannot open " + tmp.string());
    }
}

}  // namespace

void write_file_atomic(const stdfs::path& path, std::string_view data, mode_t mode,
                       Durability durability) {
    stdfs::path tmp;
    UniqueFd fd = create_temporary(path, mode, tmp);
    try {
        io::write_all(fd.get(), data, tmp.string());
        if (::fchmod(fd.get(), mode) < 0) throw system_error("cannot chmod " + tmp.string());
        if (durability == Durability::kFsync && ::fsync(fd.get()) < 0)
            throw system_error("cannot fsync " + tmp.string());
        if (::rename(tmp.c_str(), path.c_str()) < 0)
            throw system_error("cannot rename " + tmp.string() + " to " + path.string());
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (durability == Durability::kFsync)
        fsync_dir(path.parent_path().empty() ? stdfs::path(".") : path.parent_path());
}

void make_dirs(const stdfs::path& path, mode_t mode) {
    std::error_code ec;
    stdfs::create_directories(path, ec);
    if (ec) throw Error("cannot create directory " + path.string() + ": " + ec.message());
    (void)mode;
}

void remove_tree(const stdfs::path& path) {
    std::error_code ec;
    stdfs::remove_all(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
        throw Error("cannot remove " + path.string() + ": " + ec.message());
}

void fsync_dir(const stdfs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;  // best effort: durability, not correctness
    ::fsync(fd);
    ::close(fd);
}

uint64_t tree_size(const stdfs::path& path) {
    uint64_t total = 0;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(path, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code ec2;
        if (it->is_regular_file(ec2) && !it->is_symlink(ec2)) total += it->file_size(ec2);
    }
    return total;
}

stdfs::path executable_dir() {
    std::error_code ec;
    auto exe = stdfs::read_symlink("/proc/self/exe", ec);
    if (ec) throw Error("cannot find the running executable: " + ec.message());
    return exe.parent_path();
}

std::vector<stdfs::path> json_files(const stdfs::path& dir) {
    std::vector<stdfs::path> files;
    std::error_code ec;
    if (!stdfs::is_directory(dir, ec)) return files;
    for (const auto& e : stdfs::directory_iterator(dir, ec))
        if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace rkt::fs
