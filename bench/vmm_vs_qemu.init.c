/* PID 1 of the guest in bench/vmm_vs_qemu.py: says it is running (the host timestamps the line
   on the console), stays a second so the host can read the VMM's memory, then reboots. */
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    static const char marker[] = "rkt-bench: init reached\n";
    if (write(1, marker, sizeof marker - 1) < 0) return 1;
    struct timespec second = {1, 0};
    nanosleep(&second, 0);
    sync();
    reboot(RB_AUTOBOOT);
    return 0;
}
