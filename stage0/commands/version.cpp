// rkt version
#include <iostream>

#include "stage0/commands/commands.h"

#ifndef RKT_VERSION
#define RKT_VERSION "0.0.0"
#endif

namespace rkt::commands {

void add_version(CLI::App& app, Context&) {
    auto* cmd = app.add_subcommand("version", "Print the version and exit");
    cmd->callback([] {
        std::cout << "rkt Version: " << RKT_VERSION << "\n"
                  << "appc Version: 0.8.11\n"
                  << "OCI Image Spec Version: 1.1.1\n"
                  << "Compiler: g++ " << __VERSION__ << "\n"
                  << "OS/Arch: linux/amd64\n"
                  << "Features: +KVM +QEMU +NSPAWN +FLY\n";
    });
}

}  // namespace rkt::commands
