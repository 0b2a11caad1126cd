// Names of capabilities and errno values, as isolators and flags spell them.
#include <linux/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/isolation.h"
#include "common/strings.h"

namespace rkt::isolation {
namespace {

struct Named {
    const char* name;
    int value;
};

#define RKT_NAMED(x) \
    Named {          \
#x, x        \
    }

// Every capability of linux/capability.h up to 6.1 (CAP_CHECKPOINT_RESTORE = 40).
constexpr Named kCapabilities[] = {
    RKT_NAMED(CAP_CHOWN),
    RKT_NAMED(CAP_DAC_OVERRIDE),
    RKT_NAMED(CAP_DAC_READ_SEARCH),
    RKT_NAMED(CAP_FOWNER),
    RKT_NAMED(CAP_FSETID),
    RKT_NAMED(CAP_KILL),
    RKT_NAMED(CAP_SETGID),
    RKT_NAMED(CAP_SETUID),
    RKT_NAMED(CAP_SETPCAP),
    RKT_NAMED(CAP_LINUX_IMMUTABLE),
    RKT_NAMED(CAP_NET_BIND_SERVICE),
    RKT_NAMED(CAP_NET_BROADCAST),
    RKT_NAMED(CAP_NET_ADMIN),
    RKT_NAMED(CAP_NET_RAW),
    RKT_NAMED(CAP_IPC_LOCK),
    RKT_NAMED(CAP_IPC_OWNER),
    RKT_NAMED(CAP_SYS_MODULE),
    RKT_NAMED(CAP_SYS_RAWIO),
    RKT_NAMED(CAP_SYS_CHROOT),
    RKT_NAMED(CAP_SYS_PTRACE),
    RKT_NAMED(CAP_SYS_PACCT),
    RKT_NAMED(CAP_SYS_ADMIN),
    RKT_NAMED(CAP_SYS_BOOT),
    RKT_NAMED(CAP_SYS_NICE),
    RKT_NAMED(CAP_SYS_RESOURCE),
    RKT_NAMED(CAP_SYS_TIME),
    RKT_NAMED(CAP_SYS_TTY_CONFIG),
    RKT_NAMED(CAP_MKNOD),
    RKT_NAMED(CAP_LEASE),
    RKT_NAMED(CAP_AUDIT_WRITE),
    RKT_NAMED(CAP_AUDIT_CONTROL),
    RKT_NAMED(CAP_SETFCAP),
    RKT_NAMED(CAP_MAC_OVERRIDE),
    RKT_NAMED(CAP_MAC_ADMIN),
    RKT_NAMED(CAP_SYSLOG),
    RKT_NAMED(CAP_WAKE_ALARM),
    RKT_NAMED(CAP_BLOCK_SUSPEND),
    RKT_NAMED(CAP_AUDIT_READ),
    RKT_NAMED(CAP_PERFMON),
    RKT_NAMED(CAP_BPF),
    RKT_NAMED(CAP_CHECKPOINT_RESTORE),
};

constexpr Named kErrnos[] = {
    RKT_NAMED(EPERM),
    RKT_NAMED(ENOENT),
    RKT_NAMED(ESRCH),
    RKT_NAMED(EINTR),
    RKT_NAMED(EIO),
    RKT_NAMED(ENXIO),
    RKT_NAMED(E2BIG),
    RKT_NAMED(ENOEXEC),
    RKT_NAMED(EBADF),
    RKT_NAMED(ECHILD),
    RKT_NAMED(EAGAIN),
    RKT_NAMED(ENOMEM),
    RKT_NAMED(EACCES),
    RKT_NAMED(EFAULT),
    RKT_NAMED(ENOTBLK),
    RKT_NAMED(EBUSY),
    RKT_NAMED(EEXIST),
    RKT_NAMED(EXDEV),
    RKT_NAMED(ENODEV),
    RKT_NAMED(ENOTDIR),
    RKT_NAMED(EISDIR),
    RKT_NAMED(EINVAL),
    RKT_NAMED(ENFILE),
    RKT_NAMED(EMFILE),
    RKT_NAMED(ENOTTY),
    RKT_NAMED(ETXTBSY),
    RKT_NAMED(EFBIG),
    RKT_NAMED(ENOSPC),
    RKT_NAMED(ESPIPE),
    RKT_NAMED(EROFS),
    RKT_NAMED(EMLINK),
    RKT_NAMED(EPIPE),
    RKT_NAMED(EDOM),
    RKT_NAMED(ERANGE),
    RKT_NAMED(EDEADLK),
    RKT_NAMED(ENAMETOOLONG),
    RKT_NAMED(ENOLCK),
    RKT_NAMED(ENOSYS),
    RKT_NAMED(ENOTEMPTY),
    RKT_NAMED(ELOOP),
    RKT_NAMED(ENOMSG),
    RKT_NAMED(EIDRM),
    RKT_NAMED(ECHRNG),
    RKT_NAMED(EL2NSYNC),
    RKT_NAMED(EL3HLT),
    RKT_NAMED(EL3RST),
    RKT_NAMED(ELNRNG),
    RKT_NAMED(EUNATCH),
    RKT_NAMED(ENOCSI),
    RKT_NAMED(EL2HLT),
    RKT_NAMED(EBADE),
    RKT_NAMED(EBADR),
    RKT_NAMED(EXFULL),
    RKT_NAMED(ENOANO),
    RKT_NAMED(EBADRQC),
    RKT_NAMED(EBADSLT),
    RKT_NAMED(EBFONT),
    RKT_NAMED(ENOSTR),
    RKT_NAMED(ENODATA),
    RKT_NAMED(ETIME),
    RKT_NAMED(ENOSR),
    RKT_NAMED(ENONET),
    RKT_NAMED(ENOPKG),
    RKT_NAMED(EREMOTE),
    RKT_NAMED(ENOLINK),
    RKT_NAMED(EADV),
    RKT_NAMED(ESRMNT),
    RKT_NAMED(ECOMM),
    RKT_NAMED(EPROTO),
    RKT_NAMED(EMULTIHOP),
    RKT_NAMED(EDOTDOT),
    RKT_NAMED(EBADMSG),
    RKT_NAMED(EOVERFLOW),
    RKT_NAMED(ENOTUNIQ),
    RKT_NAMED(EBADFD),
    RKT_NAMED(EREMCHG),
    RKT_NAMED(ELIBACC),
    RKT_NAMED(ELIBBAD),
    RKT_NAMED(ELIBSCN),
    RKT_NAMED(ELIBMAX),
    RKT_NAMED(ELIBEXEC),
    RKT_NAMED(EILSEQ),
    RKT_NAMED(ERESTART),
    RKT_NAMED(ESTRPIPE),
    RKT_NAMED(EUSERS),
    RKT_NAMED(ENOTSOCK),
    RKT_NAMED(EDESTADDRREQ),
    RKT_NAMED(EMSGSIZE),
    RKT_NAMED(EPROTOTYPE),
    RKT_NAMED(ENOPROTOOPT),
    RKT_NAMED(EPROTONOSUPPORT),
    RKT_NAMED(ESOCKTNOSUPPORT),
    RKT_NAMED(EOPNOTSUPP),
    RKT_NAMED(EPFNOSUPPORT),
    RKT_NAMED(EAFNOSUPPORT),
    RKT_NAMED(EADDRINUSE),
    RKT_NAMED(EADDRNOTAVAIL),
    RKT_NAMED(ENETDOWN),
    RKT_NAMED(ENETUNREACH),
    RKT_NAMED(ENETRESET),
    RKT_NAMED(ECONNABORTED),
    RKT_NAMED(ECONNRESET),
    RKT_NAMED(ENOBUFS),
    RKT_NAMED(EISCONN),
    RKT_NAMED(ENOTCONN),
    RKT_NAMED(ESHUTDOWN),
    RKT_NAMED(ETOOMANYREFS),
    RKT_NAMED(ETIMEDOUT),
    RKT_NAMED(ECONNREFUSED),
    RKT_NAMED(EHOSTDOWN),
    RKT_NAMED(EHOSTUNREACH),
    RKT_NAMED(EALREADY),
    RKT_NAMED(EINPROGRESS),
    RKT_NAMED(ESTALE),
    RKT_NAMED(EUCLEAN),
    RKT_NAMED(ENOTNAM),
    RKT_NAMED(ENAVAIL),
    RKT_NAMED(EISNAM),
    RKT_NAMED(EREMOTEIO),
    RKT_NAMED(EDQUOT),
    RKT_NAMED(ENOMEDIUM),
    RKT_NAMED(EMEDIUMTYPE),
    RKT_NAMED(ECANCELED),
    RKT_NAMED(ENOKEY),
    RKT_NAMED(EKEYEXPIRED),
    RKT_NAMED(EKEYREVOKED),
    RKT_NAMED(EKEYREJECTED),
    RKT_NAMED(EOWNERDEAD),
    RKT_NAMED(ENOTRECOVERABLE),
    RKT_NAMED(ERFKILL),
    RKT_NAMED(EHWPOISON),
    RKT_NAMED(ENOTSUP),
    RKT_NAMED(EWOULDBLOCK),
    RKT_NAMED(EDEADLOCK),
};

#undef RKT_NAMED

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

int capability_from_name(std::string_view name) {
    std::string wanted = upper(strings::trim(name));
    if (wanted.rfind("CAP_", 0) != 0) wanted = "CAP_" + wanted;
    for (const auto& c : kCapabilities)
        if (wanted == c.name) return c.value;
    throw Error("unknown capability \"" + std::string(name) +
                "\" (names look like CAP_NET_ADMIN; see capabilities(7))");
}

std::string capability_name(int cap) {
    for (const auto& c : kCapabilities)
        if (c.value == cap) return c.name;
    return "CAP_" + std::to_string(cap);
}

int last_capability() {
    static const int last = [] {
        // The kernel answers PR_CAPBSET_READ with EINVAL past its last capability; no /proc
        // needed, so this also works before /proc is mounted.
        int cap = 0;
        while (cap < 63 && ::prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0) ++cap;
        return cap;
    }();
    return last;
}

int errno_from_name(std::string_view name) {
    std::string wanted = upper(strings::trim(name));
    for (const auto& e : kErrnos)
        if (wanted == e.name) return e.value;
    throw Error("unknown errno \"" + std::string(name) +
                "\" (names look like EPERM; see errno(3))");
}

std::string errno_name(int value) {
    for (const auto& e : kErrnos)
        if (e.value == value) return e.name;
    return std::to_string(value);
}

}  // namespace rkt::isolation
