#include "common/stage1_args.h"

#include <cstdlib>

#include "common/error.h"
#include "common/strings.h"
#include "common/uuid.h"

namespace rkt {

namespace {

bool take(const std::string& arg, const std::string& name, std::string& value) {
    if (arg.rfind(name + "=", 0) != 0) return false;
    value = arg.substr(name.size() + 1);
    return true;
}

void set_uuid(std::string& uuid, const std::string& arg) {
    if (!uuid.empty()) throw Error("unexpected argument \"" + arg + "\"");
    if (!is_valid_uuid(arg)) throw Error("\"" + arg + "\" is not a pod UUID");
    uuid = arg;
}

void require_uuid(const std::string& uuid) {
    if (uuid.empty()) throw Error("missing the pod UUID argument");
}

}  // namespace

Stage1RunArgs parse_stage1_run_args(int argc, char** argv) {
    Stage1RunArgs a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i], v;
        if (arg == "--debug")
            a.debug = true;
        else if (take(arg, "--net", v))
            a.net = strings::split(v, ',');
        else if (arg == "--interactive")
            a.interactive = true;
        else if (take(arg, "--hostname", v))
            a.hostname = v;
        else if (arg == "--disable-capabilities-restriction")
            a.disable_capabilities = true;
        else if (arg == "--disable-paths")
            a.disable_paths = true;
        else if (arg == "--disable-seccomp")
            a.disable_seccomp = true;
        else if (take(arg, "--engine", v))
            a.engine = v;
        else if (take(arg, "--private-users", v))
            a.private_users = v;
        else if (take(arg, "--local-config", v) || take(arg, "--mds-token", v) ||
                 take(arg, "--dns-conf-mode", v) || take(arg, "--ipc", v)) {
            // rkt's ABI flags that this stage1 accepts and ignores.
        } else if (arg.rfind("--", 0) == 0) {
            throw Error("unknown flag " + arg);
        } else {
            set_uuid(a.uuid, arg);
        }
    }
    require_uuid(a.uuid);
    const char* fd = std::getenv("RKT_LOCK_FD");
    if (!fd || !strings::is_decimal(fd) || std::string(fd).size() > 6)
        throw Error("RKT_LOCK_FD is not set: stage1 must be started by rkt");
    a.lock_fd = std::atoi(fd);
    return a;
}

Stage1StopArgs parse_stage1_stop_args(int argc, char** argv) {
    Stage1StopArgs a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--force")
            a.force = true;
        else if (arg.rfind("--", 0) == 0)
            throw Error("unknown flag " + arg);
        else
            set_uuid(a.uuid, arg);
    }
    require_uuid(a.uuid);
    return a;
}

Stage1EnterArgs parse_stage1_enter_args(int argc, char** argv) {
    Stage1EnterArgs a;
    int i = 1;
    for (; i < argc; ++i) {
        std::string arg = argv[i], v;
        if (arg == "--") {
            ++i;
            break;
        }
        if (take(arg, "--app", v) || take(arg, "--appname", v))
            a.app = v;
        else if (take(arg, "--pid", v))
            continue;  // rkt's ABI; the pid file is read instead
        else if (arg.rfind("--", 0) == 0)
            throw Error("unknown flag " + arg);
        else
            set_uuid(a.uuid, arg);
    }
    for (; i < argc; ++i) a.command.push_back(argv[i]);
    require_uuid(a.uuid);
    if (a.command.empty()) throw Error("no command given to enter");
    return a;
}

Stage1GcArgs parse_stage1_gc_args(int argc, char** argv) {
    Stage1GcArgs a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i], v;
        if (arg == "--debug")
            a.debug = true;
        else if (take(arg, "--local-config", v))
            continue;
        else if (arg.rfind("--", 0) == 0)
            throw Error("unknown flag " + arg);
        else
            set_uuid(a.uuid, arg);
    }
    require_uuid(a.uuid);
    return a;
}

}  // namespace rkt
