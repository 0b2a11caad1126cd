#include "vmm/vmm_user.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fs.h"

namespace rkt::vmm {

bool is_vmm_id(uint32_t id) {
    return id >= kFirstVmmId && id - kFirstVmmId < kVmmIdSlots;
}

VmmUser VmmUser::acquire(const std::filesystem::path& lock_dir) {
    fs::make_dirs(lock_dir, 0700);
    for (uint32_t slot = 0; slot < kVmmIdSlots; ++slot) {
        std::filesystem::path file = lock_dir / std::to_string(slot);
        UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) throw system_error("cannot open the VMM id lock " + file.string());
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
            VmmUser u;
            u.lock_ = std::move(fd);
            u.slot_ = slot;
            return u;
        }
        if (errno != EWOULDBLOCK) throw system_error("cannot lock " + file.string());
    }
    throw Error("every VMM user id is in use (" + std::to_string(kVmmIdSlots) +
                " pods running); stop some pods first");
}

}  // namespace rkt::vmm
