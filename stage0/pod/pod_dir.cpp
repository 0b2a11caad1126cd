#include "stage0/pod/pod_dir.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/pod_files.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "common/uuid.h"

namespace rkt::pod {

const char* state_dir_name(StateDir d) {
    switch (d) {
        case StateDir::kEmbryo:
            return "embryo";
        case StateDir::kPrepare:
            return "prepare";
        case StateDir::kPrepared:
            return "prepared";
        case StateDir::kRun:
            return "run";
        case StateDir::kExitedGarbage:
            return "exited-garbage";
        case StateDir::kGarbage:
            return "garbage";
    }
    return "?";
}

const char* state_name(State s) {
    switch (s) {
        case State::kEmbryo:
            return "embryo";
        case State::kPreparing:
            return "preparing";
        case State::kAbortedPrepare:
            return "aborted prepare";
        case State::kPrepared:
            return "prepared";
        case State::kRunning:
            return "running";
        case State::kExited:
            return "exited";
        case State::kExitedDeleting:
            return "exited deleting";
        case State::kExitedGarbage:
            return "exited garbage";
        case State::kDeleting:
            return "deleting";
        case State::kGarbage:
            return "garbage";
        case State::kUnknown:
            return "unknown (not permitted)";
    }
    return "?";
}

namespace {

Clock::time_point to_time_point(const struct timespec& ts) {
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

std::optional<Clock::time_point> mtime_of(const stdfs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    return to_time_point(st.st_mtim);
}

// True when someone holds an exclusive lock on the pod directory; nullopt when this user may not
// open the directory to probe it.
std::optional<bool> is_locked(const stdfs::path& dir) {
    try {
        FileLock probe = FileLock::try_acquire(dir, FileLock::Mode::kShared);
        return !probe.valid();
    } catch (const Error& e) {
        if (e.cause_errno() == EACCES || e.cause_errno() == EPERM) return std::nullopt;
        return false;  // vanished while we looked: it moved on, so it is not held here
    }
}

// A small regular file of the pod, not following a symlink: the pod's own root may own the
// directory it is in (status/ with --private-users) and plant a FIFO or a link there.
std::optional<std::string> read_pod_file(const stdfs::path& path, size_t limit) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    UniqueFd file(fd);
    struct stat st {};
    if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) > limit)
        return std::nullopt;
    std::string out(limit, '\0');
    ssize_t n = io::read_some(file.get(), out.data(), out.size());
    if (n < 0) return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
}

}  // namespace

std::optional<PodManifest> Pod::manifest() const {
    try {
        auto text = fs::read_file_if_exists(path_ / "pod");
        if (!text) return std::nullopt;
        return PodManifest::parse(*text);
    } catch (const Error&) {
        return std::nullopt;
    }
}

std::optional<Clock::time_point> Pod::created() const {
    return mtime_of(path_ / "pod-created");
}
std::optional<Clock::time_point> Pod::started() const {
    return mtime_of(path_ / "pid");
}

std::optional<pid_t> Pod::pid() const {
    try {
        auto text = fs::read_file_if_exists(path_ / "pid");
        if (!text) return std::nullopt;
        std::string t = strings::trim(*text);
        if (!strings::is_decimal(t) || t.size() > 9) return std::nullopt;
        return static_cast<pid_t>(std::stol(t));
    } catch (const Error&) {
        return std::nullopt;
    }
}

std::map<std::string, int> Pod::app_exit_codes() const {
    std::map<std::string, int> out;
    std::error_code ec;
    for (const auto& entry : stdfs::directory_iterator(path_ / "status", ec)) {
        auto text = read_pod_file(entry.path(), 64);
        if (!text) continue;
        std::string t = strings::trim(*text);
        if (strings::is_decimal(t) && t.size() < 6)
            out[entry.path().filename().string()] = std::stoi(t);
    }
    return out;
}

std::optional<std::string> Pod::app_end_reason(const std::string& app) const {
    return pod_files::read_app_end_reason(path_, app);
}

Clock::time_point Pod::state_changed() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return Clock::now();
    return to_time_point(st.st_ctim);
}

PodStore::PodStore(stdfs::path data_dir) : data_dir_(std::move(data_dir)) {}

Pod PodStore::load(StateDir dir, const std::string& uuid) const {
    Pod p;
    p.uuid_ = uuid;
    p.dir_ = dir;
    p.path_ = state_path(dir) / uuid;
    std::optional<bool> probed = dir == StateDir::kEmbryo || dir == StateDir::kPrepared
                                     ? std::optional<bool>(false)
                                     : is_locked(p.path_);
    if (!probed) {
        p.state_ = State::kUnknown;
        return p;
    }
    bool locked = *probed;
    switch (dir) {
        case StateDir::kEmbryo:
            p.state_ = State::kEmbryo;
            break;
        case StateDir::kPrepare:
            p.state_ = locked ? State::kPreparing : State::kAbortedPrepare;
            break;
        case StateDir::kPrepared:
            p.state_ = State::kPrepared;
            break;
        case StateDir::kRun:
            p.state_ = locked ? State::kRunning : State::kExited;
            break;
        case StateDir::kExitedGarbage:
            p.state_ = locked ? State::kExitedDeleting : State::kExitedGarbage;
            break;
        case StateDir::kGarbage:
            p.state_ = locked ? State::kDeleting : State::kGarbage;
            break;
    }
    return p;
}

std::vector<Pod> PodStore::list() const {
    std::vector<Pod> out;
    for (StateDir d : kAllStateDirs) {
        std::error_code ec;
        for (const auto& entry : stdfs::directory_iterator(state_path(d), ec)) {
            std::string name = entry.path().filename().string();
            if (is_valid_uuid(name)) out.push_back(load(d, name));
        }
    }
    return out;
}

std::optional<Pod> PodStore::find_exact(const std::string& uuid) const {
    // A pod may move between directories while we look: check every directory, twice.
    for (int attempt = 0; attempt < 2; ++attempt) {
        for (StateDir d : kAllStateDirs) {
            std::error_code ec;
            if (stdfs::exists(state_path(d) / uuid, ec)) return load(d, uuid);
        }
    }
    return std::nullopt;
}

Pod PodStore::resolve(const std::string& uuid_or_prefix) const {
    if (uuid_or_prefix.empty()) throw Error("UUID cannot be empty");
    std::string needle = strings::to_lower(uuid_or_prefix);
    if (is_valid_uuid(needle)) {
        if (auto p = find_exact(needle)) return *p;
        throw Error("no matches found for \"" + uuid_or_prefix + "\"");
    }
    std::vector<Pod> matches;
    for (auto& p : list())
        if (p.uuid().compare(0, needle.size(), needle) == 0) matches.push_back(p);
    if (matches.empty()) throw Error("no matches found for \"" + uuid_or_prefix + "\"");
    if (matches.size() > 1)
        throw Error("ambiguous uuid, " + std::to_string(matches.size()) + " matches");
    return matches.front();
}

PodStore::NewPod PodStore::create() {
    for (StateDir d : kAllStateDirs) fs::make_dirs(state_path(d));
    std::string uuid = new_uuid();
    stdfs::path embryo = state_path(StateDir::kEmbryo) / uuid;
    if (::mkdir(embryo.c_str(), 0750) != 0) throw system_error("cannot create " + embryo.string());
    FileLock lock = FileLock::acquire(embryo, FileLock::Mode::kExclusive);
    stdfs::path prepare = move(uuid, StateDir::kEmbryo, StateDir::kPrepare);
    return NewPod{uuid, prepare, std::move(lock)};
}

stdfs::path PodStore::move(const std::string& uuid, StateDir from, StateDir to) const {
    stdfs::path src = state_path(from) / uuid;
    stdfs::path dst = state_path(to) / uuid;
    fs::make_dirs(state_path(to));
    if (::rename(src.c_str(), dst.c_str()) != 0)
        throw system_error("cannot move pod " + uuid + " from " + state_dir_name(from) + " to " +
                           state_dir_name(to));
    return dst;
}

void create_private_pod_dirs(const stdfs::path& pod_dir) {
    for (const char* name : kPrivatePodDirs) {
        stdfs::path dir = pod_dir / name;
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            throw system_error("cannot create " + dir.string());
        UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw system_error("cannot open " + dir.string());
        // Not the pod directory's group (inherited through its set-group-id bit), and no
        // set-group-id bit passed on into the apps' trees.
        if (::fchown(fd.get(), 0, 0) != 0 || ::fchmod(fd.get(), 0700) != 0)
            throw system_error("cannot make " + dir.string() + " private");
    }
}

std::string read_uuid_file(const stdfs::path& path) {
    std::string text;
    try {
        text = strings::trim(fs::read_file_limited(path, 4096));
    } catch (const Error& e) {
        throw e.with_context("cannot read uuid file");
    }
    if (text.empty()) throw Error("uuid file " + path.string() + " is empty");
    return text;
}

}  // namespace rkt::pod
