#include "common/device_filter.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/io.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace rkt::device_filter {
namespace {

constexpr uint8_t kRwm = kMknod | kRead | kWrite;
constexpr uint8_t kRw = kRead | kWrite;

// runc's defaults, less tun and less mknod of anything the stage1 does not make itself.
constexpr std::array<Rule, 8> kAllowList = {{
    {'c', 1, 3, kRwm, "/dev/null"},
    {'c', 1, 5, kRwm, "/dev/zero"},
    {'c', 1, 7, kRwm, "/dev/full"},
    {'c', 1, 8, kRwm, "/dev/random"},
    {'c', 1, 9, kRwm, "/dev/urandom"},
    {'c', 5, 0, kRwm, "/dev/tty"},
    // The kernel resolves a c 5:2 node to the devpts instance beside it, so this is always the
    // pod's own /dev/pts/ptmx (/dev/ptmx is a symlink to it), never the host's.
    {'c', 5, 2, kRw, "/dev/ptmx"},
    {'c', 136, kAny, kRw, "/dev/pts/*"},
}};

std::string number(int64_t n) {
    return n == kAny ? "*" : std::to_string(n);
}

std::string access_text(uint8_t access) {
    std::string s;
    if (access & kRead) s += 'r';
    if (access & kWrite) s += 'w';
    if (access & kMknod) s += 'm';
    return s;
}

// The few eBPF instructions the program needs (the kernel's own macros are not in its uapi).
constexpr bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
constexpr bpf_insn load_u32(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
constexpr bpf_insn mov_reg(uint8_t dst, uint8_t src) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
constexpr bpf_insn mov_imm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
constexpr bpf_insn and_imm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm);
}
constexpr bpf_insn shift_right(uint8_t dst, int32_t bits) {
    return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, bits);
}
constexpr bpf_insn jump_if_not(uint8_t reg, int32_t imm, int16_t skip) {
    return insn(BPF_JMP | BPF_JNE | BPF_K, reg, 0, skip, imm);
}
constexpr bpf_insn exit_insn() {
    return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

// Registers: r1 = struct bpf_cgroup_dev_ctx *; r2 = access (BPF_DEVCG_ACC_*), r3 = type
// (BPF_DEVCG_DEV_*), r4 = major, r5 = minor; r0 = the verdict.
constexpr uint8_t kCtx = 1, kAccess = 2, kType = 3, kMajor = 4, kMinor = 5, kResult = 0;

void append_rule(std::vector<bpf_insn>& prog, const Rule& rule) {
    // Each test jumps past the rest of this rule's block when it does not match.
    std::vector<bpf_insn> block;
    std::vector<size_t> jumps;
    auto test = [&](uint8_t reg, int32_t value) {
        jumps.push_back(block.size());
        block.push_back(jump_if_not(reg, value, 0));
    };
    test(kType, rule.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    if (rule.major != kAny) test(kMajor, static_cast<int32_t>(rule.major));
    if (rule.minor != kAny) test(kMinor, static_cast<int32_t>(rule.minor));
    if (auto denied = static_cast<uint8_t>(~rule.access & kRwm)) {
        // Every bit asked for must be allowed: (access & ~allowed) == 0.
        block.push_back(mov_reg(kResult, kAccess));
        block.push_back(and_imm(kResult, denied));
        test(kResult, 0);
    }
    block.push_back(mov_imm(kResult, 1));
    block.push_back(exit_insn());
    for (size_t at : jumps) block[at].off = static_cast<int16_t>(block.size() - at - 1);
    prog.insert(prog.end(), block.begin(), block.end());
}

long bpf(int cmd, bpf_attr& attr) {
    return ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
}

UniqueFd load_program(const std::vector<bpf_insn>& prog) {
    static const char kLicense[] = "Apache-2.0";  // no helper is called: any license will do
    auto load = [&](char* log, uint32_t log_size) {
        bpf_attr attr{};
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insn_cnt = static_cast<uint32_t>(prog.size());
        attr.insns = reinterpret_cast<uint64_t>(prog.data());
        attr.license = reinterpret_cast<uint64_t>(kLicense);
        attr.log_level = log ? 1 : 0;
        attr.log_size = log_size;
        attr.log_buf = reinterpret_cast<uint64_t>(log);
        return io::retry_eintr([&] { return bpf(BPF_PROG_LOAD, attr); });
    };
    long fd = load(nullptr, 0);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    int err = errno;
    if (err == EPERM || err == ENOSYS)
        throw system_error(
            "cannot load the device filter (a BPF program: needs CAP_SYS_ADMIN "
            "and a kernel with CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF)",
            err);
    std::string log(16384, '\0');
    load(log.data(), static_cast<uint32_t>(log.size()));
    log.resize(log.find('\0'));
    throw Error("cannot load the device filter: " + std::string(std::strerror(err)) +
                (log.empty() ? "" : " (verifier: " + strings::trim(log) + ")"));
}

}  // namespace

std::span<const Rule> allow_list() {
    return kAllowList;
}

std::vector<std::string> v1_rules() {
    std::vector<std::string> lines;
    for (const Rule& r : kAllowList)
        lines.push_back(std::string(1, r.type) + " " + number(r.major) + ":" + number(r.minor) +
                        " " + access_text(r.access));
    return lines;
}

void apply_v1(int cgroup_dir_fd) {
    auto write_line = [&](const char* file, const std::string& line) {
        UniqueFd fd(::openat(cgroup_dir_fd, file, O_WRONLY | O_CLOEXEC));
        if (!fd) throw system_error(std::string("cannot open the cgroup's ") + file);
        io::write_all(fd.get(), line, "\"" + line + "\" to the cgroup's " + file);
    };
    write_line("devices.deny", kV1DenyAll);
    for (const auto& line : v1_rules()) write_line("devices.allow", line);
}

std::vector<bpf_insn> v2_program() {
    std::vector<bpf_insn> prog = {
        load_u32(kAccess, kCtx, 0),  // access_type = (access << 16) | type
        mov_reg(kType, kAccess),    and_imm(kType, 0xffff),    shift_right(kAccess, 16),
        load_u32(kMajor, kCtx, 4),  load_u32(kMinor, kCtx, 8),
    };
    for (const Rule& r : kAllowList) append_rule(prog, r);
    prog.push_back(mov_imm(kResult, 0));
    prog.push_back(exit_insn());
    return prog;
}

void attach_v2(int cgroup_dir_fd) {
    UniqueFd prog = load_program(v2_program());
    bpf_attr attr{};
    attr.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
    attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    // Several programs may apply to one cgroup (ours, one a parent has): each must allow.
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (io::retry_eintr([&] { return bpf(BPF_PROG_ATTACH, attr); }) != 0)
        throw system_error("cannot attach the device filter to the cgroup");
}

}  // namespace rkt::device_filter
