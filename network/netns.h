// A pod's network namespace kept as a file: an nsfs bind mount at /run/netns/rkt-<uuid> (where
// `ip netns` looks), so that the CNI plugins can enter it by path and `gc` can still run their
// DEL after every process of the pod is gone (a kill -9 included).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/unique_fd.h"

namespace rkt::net {

// "/run/netns/rkt-<uuid>".
std::string netns_path_for(const std::string& uuid);

// Binds the network namespace of `pid` at `path` (nspawn: the pod init's).
void bind_netns_of(pid_t pid, const std::string& path);
// Creates a new network namespace, with lo up, bound at `path` (kvm: the VMM's tap lives there).
void create_netns(const std::string& path);
// Whether `path` holds a namespace (an nsfs mount): not after a reboot left the file behind on a
// disk-backed /run.
bool is_bound_netns(const std::string& path);
// Unmounts and removes `path`; nothing when it is not there.
void remove_netns(const std::string& path);

// While alive, the calling thread is in the network namespace at `path`; its own is restored
// on destruction. Processes spawned meanwhile start there.
class NetnsEntry {
public:
    explicit NetnsEntry(const std::string& path);
    ~NetnsEntry();
    NetnsEntry(const NetnsEntry&) = delete;
    NetnsEntry& operator=(const NetnsEntry&) = delete;

private:
    UniqueFd original_;
};

}  // namespace rkt::net
