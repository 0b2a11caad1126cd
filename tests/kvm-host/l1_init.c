/* PID 1 of the KVM test host (the L1 VM that run-in-l1.sh boots under QEMU TCG).

   It builds a root from the host's own root, runs one job in it, reports how the job ended and
   ends the VM:
   - the host's / (virtio-9p tag "hostroot", read-only) is the lower layer of an overlay whose
     upper layer is a tmpfs, so everything is writable and every write stays in the L1; a fresh
     tmpfs on /tmp, /var/tmp and /run (what a fresh machine has, and what rkt's overlays need as
     their upper layer); proc, sys, dev, dev/pts, dev/shm and cgroup2 of its own;
   - the job (tag "rktjob", writable): argv and env (NUL-separated), cwd, and the host
     directories to share writable at their own paths ("shares": "TAG PATH" lines);
   - the job's stdout and stderr are pipes whose contents go, unchanged, to hvc0 and hvc1;
   - it writes "status" ("exit N", "signal N" or "error: ...") and "timings" into the job
     directory, then kills what is left and reboots (reboot=t + QEMU -no-reboot: QEMU exits).
   Anything that goes wrong before the job starts is written as "error: ..." to status and to
   the kernel console. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define JOB_DIR "/job"
#define LOWER "/lower"
#define RW "/rw"
#define ROOT "/newroot"
#define MAX_JOB_FILE (4 << 20)
#define MAX_SHARES 8

static int job_dir_fd = -1;
static double init_start_s;

static double boottime_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_BOOTTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void console_line(const char* fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        dprintf(fd, "rkt-l1: %s\n", line);
        close(fd);
    }
}

static void write_job_file(const char* name, const char* text) {
    if (job_dir_fd < 0) return;
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".%s.tmp", name);
    int fd = openat(job_dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    fsync(fd);
    close(fd);
    if (ok) renameat(job_dir_fd, tmp, job_dir_fd, name);
}

static void power_off(void) {
    sync();
    reboot(RB_AUTOBOOT);
    for (;;) pause();
}

/* Ends the L1 with "error: ..." as the job's status. */
static void fail(const char* fmt, ...) {
    char msg[900], status[1000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    console_line("error: %s", msg);
    snprintf(status, sizeof status, "error: %s\n", msg);
    write_job_file("status", status);
    power_off();
}

static void mount_or_fail(const char* src, const char* target, const char* type,
                          unsigned long flags, const char* data) {
    mkdir(target, 0755);
    if (mount(src, target, type, flags, data) != 0)
        fail("mount %s (%s) on %s: %s", src, type, target, strerror(errno));
}

static int mount_quiet(const char* src, const char* target, const char* type, unsigned long flags,
                       const char* data) {
    mkdir(target, 0755);
    return mount(src, target, type, flags, data);
}

/* The whole of a job file (at most MAX_JOB_FILE bytes), NUL-terminated; *len without it. */
static char* read_job_file(const char* name, size_t* len, int required) {
    int fd = openat(job_dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (required) fail("the job has no %s: %s", name, strerror(errno));
        *len = 0;
        return calloc(1, 1);
    }
    char* buf = malloc(MAX_JOB_FILE + 1);
    if (!buf) fail("out of memory");
    size_t used = 0;
    ssize_t n;
    while (used < MAX_JOB_FILE && (n = read(fd, buf + used, MAX_JOB_FILE - used)) > 0)
        used += (size_t)n;
    close(fd);
    if (used == MAX_JOB_FILE) fail("job file %s is larger than %d bytes", name, MAX_JOB_FILE);
    buf[used] = 0;
    *len = used;
    return buf;
}

/* Splits NUL-separated strings into a NULL-terminated vector. */
static char** split_nul(char* buf, size_t len) {
    size_t count = 0;
    for (size_t i = 0; i < len; ++i) count += buf[i] == 0;
    if (len && buf[len - 1] != 0) ++count;
    char** v = calloc(count + 1, sizeof *v);
    if (!v) fail("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1) v[k++] = buf + i;
    v[k] = NULL;
    return v;
}

static void mkdir_p(const char* path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char* s = p + 1; *s; ++s) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
    mkdir(p, 0755);
}

static void bring_up_loopback(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        console_line("note: no loopback interface");
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) console_line("note: cannot bring up lo");
    }
    if (s >= 0) close(s);
}

/* The host's wall clock: the modification time of a file just created in the job directory
   (the L1 has no RTC driver, so it would think it is 1970). */
static void set_clock_from_host(void) {
    int fd = openat(job_dir_fd, ".clock", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) clock_settime(CLOCK_REALTIME, &st.st_mtim);
    if (fd >= 0) close(fd);
    unlinkat(job_dir_fd, ".clock", 0);
}

static void build_root(void) {
    /* cache=loose: the lower layer is read-only and does not change while a job runs, so
       the page cache may keep what was read (executables and libraries are read many times). */
    mount_or_fail("hostroot", LOWER, "9p", MS_RDONLY,
                  "trans=virtio,version=9p2000.L,msize=262144,cache=loose");
    mount_or_fail("rw", RW, "tmpfs", 0, "mode=0755");
    mkdir(RW "/upper", 0755);
    mkdir(RW "/work", 0755);
    mkdir(ROOT, 0755);
    if (mount("overlay", ROOT, "overlay", 0,
              "lowerdir=" LOWER ",upperdir=" RW "/upper,workdir=" RW "/work") != 0) {
        /* Still usable: read-only except for the tmpfs mounts below. */
        console_line("note: no overlay over the host root (%s); it stays read-only",
                     strerror(errno));
        mount_or_fail(LOWER, ROOT, NULL, MS_BIND | MS_REC, NULL);
    }
    mount_or_fail("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_or_fail("sysfs", ROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_quiet("cgroup2", ROOT "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                NULL);
    mount_or_fail("devtmpfs", ROOT "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_quiet("devpts", ROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                "gid=5,mode=620,ptmxmode=666");
    mount_quiet("shm", ROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_fail("tmp", ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_fail("vartmp", ROOT "/var/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_fail("run", ROOT "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mkdir(ROOT "/run/lock", 01777);
}

/* "TAG PATH" lines: each a writable 9p share mounted at PATH (in the order given, so the
   host side sorts nested paths after their parents). */
static void mount_shares(void) {
    size_t len;
    char* text = read_job_file("shares", &len, 0);
    int count = 0;
    for (char* line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char* space = strchr(line, ' ');
        if (!space || space[1] != '/') fail("bad share line '%s' (want: TAG /PATH)", line);
        *space = 0;
        const char* path = space + 1;
        if (strstr(path, "/../") || strlen(path) > 3000) fail("bad share path '%s'", path);
        if (++count > MAX_SHARES) fail("more than %d shares", MAX_SHARES);
        char target[4096];
        snprintf(target, sizeof target, ROOT "%s", path);
        mkdir_p(target);
        if (mount(line, target, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144") != 0)
            fail("mount share %s on %s: %s", line, path, strerror(errno));
    }
    free(text);
}

static int open_raw_console(const char* path) {
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

static void write_all(int fd, const char* buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* the host side is gone: drop the output, keep the job going */
        buf += n;
        len -= (size_t)n;
    }
}

/* Copies the job's output pipes to the consoles until the job has exited and its pipes are
   drained (or, if descendants keep them open, 200 ms after the job's exit). Reaps every
   orphan meanwhile (we are PID 1). Returns the job's wait status. */
static int pump_and_wait(pid_t job, int out_pipe, int err_pipe, int out_con, int err_con) {
    struct pollfd fds[2] = {{out_pipe, POLLIN, 0}, {err_pipe, POLLIN, 0}};
    int targets[2] = {out_con, err_con >= 0 ? err_con : out_con};
    int status = 0, exited = 0, open_pipes = 2;
    double exit_time = 0;
    char buf[65536];
    while (open_pipes > 0) {
        int timeout = exited ? 20 : 100;
        int n = poll(fds, 2, timeout);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2 && n > 0; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                write_all(targets[i], buf, (size_t)got);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            }
        }
        pid_t p;
        int st;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
            if (p == job) {
                status = st;
                exited = 1;
                exit_time = boottime_s();
            }
        }
        if (exited && n == 0 && boottime_s() - exit_time > 0.2) break;
    }
    while (!exited) {
        pid_t p = waitpid(-1, &status, 0);
        if (p == job) exited = 1;
        if (p < 0 && errno != EINTR) break;
    }
    return status;
}

int main(void) {
    init_start_s = boottime_s();
    mount_or_fail("proc", "/proc", "proc", 0, NULL);
    mount_or_fail("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount_quiet("sysfs", "/sys", "sysfs", 0, NULL);
    /* The job directory first: every later failure is reported through it. */
    mkdir(JOB_DIR, 0755);
    if (mount("rktjob", JOB_DIR, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144") != 0) {
        console_line("error: cannot mount the job directory (9p tag rktjob): %s", strerror(errno));
        power_off();
    }
    job_dir_fd = open(JOB_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
    set_clock_from_host();

    size_t argv_len, env_len, cwd_len;
    char* argv_buf = read_job_file("argv", &argv_len, 1);
    char* env_buf = read_job_file("env", &env_len, 0);
    char* cwd = read_job_file("cwd", &cwd_len, 1);
    char** argv = split_nul(argv_buf, argv_len);
    char** envp = split_nul(env_buf, env_len);
    if (!argv[0]) fail("the job has an empty argv");
    cwd[strcspn(cwd, "\n")] = 0;

    build_root();
    mount_shares();
    bring_up_loopback();
    sethostname("rkt-l1", 6);

    int out_con = open_raw_console("/dev/hvc0");
    int err_con = open_raw_console("/dev/hvc1");
    if (out_con < 0) fail("no /dev/hvc0 (the job's stdout): %s", strerror(errno));

    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
        fail("pipe: %s", strerror(errno));
    /* switch_root: the new root moved onto /, not a chroot below it (a chrooted process may
       not create user namespaces, which rootless tools and some stage1s need). */
    if (chdir(ROOT) != 0 || mount(ROOT, "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 ||
        chdir("/") != 0)
        fail("switching to the host root: %s", strerror(errno));
    /* Shared propagation, as systemd sets it up on an ordinary host. */
    mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL);
    if (chdir(cwd) != 0)
        fail(
            "the working directory %s does not exist in the L1: %s (the L1 sees the host's "
            "root, but /tmp, /var/tmp and /run are its own; share it with --share)",
            cwd, strerror(errno));

    double job_start_s = boottime_s();
    pid_t job = fork();
    if (job < 0) fail("fork: %s", strerror(errno));
    if (job == 0) {
        setsid();
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        signal(SIGPIPE, SIG_DFL);
        /* execvpe searches the job's PATH. */
        environ = envp;
        execvpe(argv[0], argv, envp);
        dprintf(2, "run-in-l1: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    int status = pump_and_wait(job, out_pipe[0], err_pipe[0], out_con, err_con);
    double job_end_s = boottime_s();

    char text[256];
    if (WIFEXITED(status))
        snprintf(text, sizeof text, "exit %d\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(text, sizeof text, "signal %d\n", WTERMSIG(status));
    else
        snprintf(text, sizeof text, "error: unexpected wait status %d\n", status);
    char timings[256];
    snprintf(timings, sizeof timings, "init_start_s %.3f\njob_start_s %.3f\njob_end_s %.3f\n",
             init_start_s, job_start_s, job_end_s);
    write_job_file("timings", timings);
    write_job_file("status", text);
    kill(-1, SIGKILL);
    power_off();
    return 0;
}
