/* PID 1 of the Linux guest booted by linux-boot-in-l1.sh: checks what the VMM gave it (CPUs,
   disks, the named protocol port) and reports each finding on the console as "L2: ...", then
   reboots, which ends the VM through the i8042. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

static int count_in(const char* file, const char* word) {
    char buf[8192];
    int fd = open(file, O_RDONLY), n = 0, count = 0;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf - 1)) > 0) {
        buf[n] = 0;
        for (char* p = buf; (p = strstr(p, word)); ++p) ++count;
    }
    return count;
}

int main(void) {
    int console = open("/dev/console", O_RDWR);
    if (console >= 0) {
        dup2(console, 1);
        dup2(console, 2);
    }
    mount("proc", "/proc", "proc", 0, 0);
    mount("sysfs", "/sys", "sysfs", 0, 0);
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    printf("L2: init running\n");
    printf("L2: cpus %d\n", count_in("/proc/cpuinfo", "processor\t"));

    char buf[512];
    int fd = open("/dev/vda", O_RDONLY);
    int n = fd >= 0 ? read(fd, buf, 16) : -1;
    printf("L2: vda %.*s\n", n > 0 ? n : 0, buf);
    fd = open("/dev/vdb", O_RDWR);
    n = fd >= 0 ? write(fd, "written-by-L2", 13) : -1;
    if (fd >= 0) fsync(fd);
    printf("L2: vdb wrote %d\n", n);

    DIR* d = opendir("/sys/class/virtio-ports");
    struct dirent* e;
    while (d && (e = readdir(d))) {
        char path[300], name[128] = "";
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        int f = open(path, O_RDONLY);
        int len = f >= 0 ? read(f, name, sizeof name - 1) : 0;
        name[len > 0 ? len : 0] = 0;
        if (strncmp(name, "org.rkt.guest.0", 15) != 0) continue;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        int port = open(path, O_RDWR);
        n = port >= 0 ? write(port, "ping\n", 5) : -1;
        n = port >= 0 ? read(port, buf, sizeof buf - 1) : -1;
        buf[n > 0 ? n : 0] = 0;
        printf("L2: port %s answered %s", e->d_name, buf);
    }
    fflush(stdout);
    sync();
    reboot(RB_AUTOBOOT);
    return 0;
}
