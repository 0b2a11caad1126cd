// What PID 1 does before it can talk to the host: leave the initramfs for a real mount (so apps
// can pivot_root), mount the kernel file systems, attach the console, bring up lo.
#pragma once

#include <map>
#include <string>

namespace rkt::guest_init {

// The initramfs root cannot be pivoted away from, so PID 1 copies itself into a tmpfs, moves
// that over / and re-executes itself there. Returns only in the re-executed process.
void leave_initramfs(char** argv);

void mount_kernel_filesystems();
// Points stdin/stdout/stderr at /dev/console (the initramfs may have no /dev/console node).
void attach_console();
void bring_up_loopback();

// "rkt.*" parameters of the kernel command line ("rkt.debug" alone maps to "").
std::map<std::string, std::string> rkt_kernel_parameters(const std::string& cmdline);

}  // namespace rkt::guest_init
