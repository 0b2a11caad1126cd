#include "guest-init/exec_rules.h"

#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace rkt::guest_init {

const std::string* find_env(const std::vector<std::string>& env, std::string_view name) {
    for (const auto& e : env) {
        if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
            return &e;
    }
    return nullptr;
}

std::vector<std::string> exec_candidates(const std::string& argv0, std::string_view path_env) {
    if (argv0.find('/') != std::string::npos) return {argv0};
    std::vector<std::string> out;
    for (const auto& dir : strings::split(path_env, ':')) {
        // An empty PATH entry means the current directory, as in execvp.
        out.push_back((dir.empty() ? std::string(".") : dir) + "/" + argv0);
    }
    return out;
}

ExecFailure describe_exec_failure(const std::string& argv0,
                                  const std::vector<std::string>& candidates,
                                  const std::vector<int>& errors, const std::vector<bool>& exists) {
    const bool searched = argv0.find('/') == std::string::npos;
    // A "real" error (not a miss) on any candidate is what the user needs to see, as in execvp.
    for (size_t i = 0; i < errors.size(); ++i) {
        int err = errors[i];
        if (err == ENOENT && i < exists.size() && exists[i]) {
            return {kExitNotFound, "could not execute: " + candidates[i] +
                                       ": its interpreter (ELF loader or #! program) is missing"};
        }
        if (err == ENOENT || err == ENOTDIR) continue;
        std::string what;
        switch (err) {
            case EACCES:
                what = "permission denied (not an executable file, or no x bit)";
                break;
            case ENOEXEC:
                what = "exec format error (not a program this kernel can run)";
                break;
            case EISDIR:
                what = "is a directory";
                break;
            default:
                what = std::strerror(err);
                break;
        }
        return {kExitCannotExecute, "could not execute: " + candidates[i] + ": " + what};
    }
    if (searched) return {kExitNotFound, "could not execute: " + argv0 + ": not found in PATH"};
    return {kExitNotFound, "could not execute: " + argv0 + ": no such file or directory"};
}

std::string virtio_disk_name(unsigned index) {
    std::string suffix;
    unsigned n = index + 1;
    while (n > 0) {
        --n;
        suffix.insert(suffix.begin(), static_cast<char>('a' + n % 26));
        n /= 26;
    }
    return "vd" + suffix;
}

}  // namespace rkt::guest_init
