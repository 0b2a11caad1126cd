// Pods on disk: <data-dir>/pods/<state-dir>/<uuid>/. A pod's state is which directory it is in
// plus whether the flock on the pod directory is held (docs/architecture.md). Transitions are
// rename(2)s; nothing here needs a daemon.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "common/pod_manifest.h"

namespace rkt::pod {

namespace stdfs = std::filesystem;
using Clock = std::chrono::system_clock;

enum class StateDir { kEmbryo, kPrepare, kPrepared, kRun, kExitedGarbage, kGarbage };

const char* state_dir_name(StateDir d);
inline constexpr StateDir kAllStateDirs[] = {StateDir::kEmbryo,        StateDir::kPrepare,
                                             StateDir::kPrepared,      StateDir::kRun,
                                             StateDir::kExitedGarbage, StateDir::kGarbage};

// What `rkt list` and `rkt status` print.
enum class State {
    kEmbryo,
    kPreparing,
    kAbortedPrepare,
    kPrepared,
    kRunning,
    kExited,
    kExitedDeleting,
    kExitedGarbage,
    kDeleting,
    kGarbage,
    // The state hangs on the pod's lock, which this user may not probe (rkt's readers may open
    // only the pods made since the data directory had its group).
    kUnknown,
};
const char* state_name(State s);

class PodStore;

// A snapshot of one pod directory. Reading it takes no lock that could disturb the pod.
class Pod {
public:
    const std::string& uuid() const { return uuid_; }
    StateDir state_dir() const { return dir_; }
    State state() const { return state_; }
    const stdfs::path& path() const { return path_; }

    bool is_running() const { return state_ == State::kRunning; }
    bool is_finished() const {
        return state_ == State::kExited || state_ == State::kExitedGarbage ||
               state_ == State::kExitedDeleting;
    }

    // The manifest, or nullopt when the pod is still an embryo or its file is unreadable.
    std::optional<PodManifest> manifest() const;
    std::optional<Clock::time_point> created() const;
    std::optional<Clock::time_point> started() const;  // mtime of the pid file
    std::optional<pid_t> pid() const;
    bool state_known() const { return state_ != State::kUnknown; }

    // Exit code per app, for apps that have a status file.
    std::map<std::string, int> app_exit_codes() const;
    // Why an app ended where its exit code does not tell (status/<app>.reason, e.g. oom-killed).
    std::optional<std::string> app_end_reason(const std::string& app) const;
    // The time this pod entered its current state directory (ctime of the directory).
    Clock::time_point state_changed() const;

private:
    friend class PodStore;
    std::string uuid_;
    StateDir dir_ = StateDir::kEmbryo;
    State state_ = State::kEmbryo;
    stdfs::path path_;
};

class PodStore {
public:
    explicit PodStore(stdfs::path data_dir);

    const stdfs::path& data_dir() const { return data_dir_; }
    stdfs::path pods_dir() const { return data_dir_ / "pods"; }
    stdfs::path state_path(StateDir d) const { return pods_dir() / state_dir_name(d); }

    std::vector<Pod> list() const;
    std::optional<Pod> find_exact(const std::string& uuid) const;
    // Resolves a full UUID or an unambiguous prefix; throws rkt's errors otherwise.
    Pod resolve(const std::string& uuid_or_prefix) const;
    // Re-reads a pod (its state may have changed).
    std::optional<Pod> refresh(const Pod& pod) const { return find_exact(pod.uuid()); }

    // Creates embryo/<uuid>, locks it exclusively and moves it to prepare/. The lock is held by
    // the returned object's owner for the whole preparation.
    struct NewPod {
        std::string uuid;
        stdfs::path path;
        FileLock lock;
    };
    NewPod create();

    // Renames a pod between state directories; returns its new path.
    stdfs::path move(const std::string& uuid, StateDir from, StateDir to) const;

private:
    Pod load(StateDir dir, const std::string& uuid) const;
    stdfs::path data_dir_;
};

// The pod directory's entries that hold the apps' files (image trees, overlay layers, volumes):
// stage0 makes them 0700 root:root before the stage1 runs, as the pod directory itself is
// readable by rkt's group (docs/architecture.md). A stage1 keeps every app file under one.
inline constexpr const char* kPrivatePodDirs[] = {"appsinfo", "overlay", "apps", "sharedVolumes",
                                                  "volumes"};
void create_private_pod_dirs(const stdfs::path& pod_dir);

// Reads a UUID from a file written by --uuid-file-save (trailing whitespace ignored).
std::string read_uuid_file(const stdfs::path& path);

}  // namespace rkt::pod
