#include "guest-init/mount_util.h"

#include <sys/mount.h>

#include "common/error.h"

namespace rkt::guest_init {

void mount_checked(const std::string& source, const std::string& target, const char* type,
                   unsigned long flags, const std::string& data, const std::string& what) {
    if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), type, flags,
                data.empty() ? nullptr : data.c_str()) < 0)
        throw system_error("cannot mount " + what);
}

}  // namespace rkt::guest_init
