// The devices an app may use, and the two ways the kernel is told: a cgroup v1 `devices`
// controller (devices.deny / devices.allow lines) and, on cgroup v2, a BPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the app's cgroup. Both come from one table, so every
// stage1 (the nspawn pod's apps on the host, the apps inside the kvm guest) allows the same.
//
// The table is runc's default allow list (libcontainer's AllowedDevices) made narrower: the
// device nodes /dev of an app holds (null, zero, full, random, urandom, tty), the pod's own
// pseudo terminals (ptmx, pts); nothing else, not even tun (10:200, which runc allows). And
// runc lets an app mknod any device ("c *:* m", "b *:* m"); here only the six nodes the
// stage1 itself makes in /dev may be made: the pseudo terminals are created by devpts, never by
// mknod, so `mknod c 5:2` or `mknod c 10:237` (loop-control) fails with EPERM, as does opening
// any node outside the table (EPERM), wherever it came from.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace rkt::device_filter {

// A major or minor number that matches any.
inline constexpr int64_t kAny = -1;

// What a rule allows, as cgroup v1 spells it ("rwm").
enum Access : uint8_t {
    kMknod = 1,  // the same bits as BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
    kRead = 2,
    kWrite = 4,
};

struct Rule {
    char type;         // 'c' (character device) or 'b' (block device)
    int64_t major;     // or kAny
    int64_t minor;     // or kAny
    uint8_t access;    // kMknod | kRead | kWrite
    const char* what;  // "/dev/null", for messages and docs
};

// The allow list: every device use not matched by a rule is denied.
std::span<const Rule> allow_list();

// cgroup v1: write this to `devices.deny` first (it denies everything), then each of
// v1_rules() to `devices.allow`, one write each ("c 1:3 rwm", "c 136:* rw", ...).
inline constexpr const char* kV1DenyAll = "a";
std::vector<std::string> v1_rules();
// Does both in the v1 `devices` cgroup directory `cgroup_dir_fd`. Throws rkt::Error naming the
// file and line the kernel refused.
void apply_v1(int cgroup_dir_fd);

// cgroup v2: the BPF program of the allow list (returns 1 to allow, 0 to deny).
std::vector<bpf_insn> v2_program();
// Loads v2_program() and attaches it (BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to
// the cgroup v2 directory `cgroup_dir_fd`: from then on every process in that cgroup and its
// descendants gets EPERM for any device the list does not allow. The program stays attached as
// long as the cgroup exists (nothing to keep open). Programs attached higher up still apply (all
// must allow). Throws rkt::Error (with the verifier's log when the kernel refuses the program).
void attach_v2(int cgroup_dir_fd);

}  // namespace rkt::device_filter
