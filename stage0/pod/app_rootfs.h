// Where an app's rendered tree goes in the pod directory (appsinfo/<app>/rootfs,
// docs/architecture.md): a symlink to the store's tree, which stage1 overlays, or with
// --no-overlay the pod's own copy, its owners shifted into the pod's user namespace range with
// --private-users.
#pragma once

#include <filesystem>
#include <optional>

#include "common/id_shift.h"
#include "stage0/pod/pod_options.h"
#include "stage0/stage1.h"

namespace rkt {

// Refuses --no-overlay and --private-users with a stage1 that cannot honour them (one line,
// before any image work).
void check_stage1_supports(const PodFlags& flags, const Stage1& stage1);

// A fresh range for a pod's user namespace: 65536 ids from (random 1..0x7FFF) << 16, as rkt.
// Ranges are not reserved: two pods may draw the same one (docs/isolation.md).
IdShift choose_private_users();

// Makes `dest` the app's tree: a symlink to `tree`, or (copy) a copy of it whose owners are
// moved by `shift` when there is one.
void place_app_rootfs(const std::filesystem::path& tree, const std::filesystem::path& dest,
                      bool copy, const std::optional<IdShift>& shift);

// The marker rkt's stage0 left once the trees were shifted for the pod's user namespace.
void mark_private_users_prepared(const std::filesystem::path& pod_dir);

}  // namespace rkt
