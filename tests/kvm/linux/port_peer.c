/* The host end of the guest's protocol port for linux-boot.sh: listens on a unix socket,
   answers the guest's "ping" line with "pong", prints what it saw, and fails (exit 1, with the
   reason) when any step does. A deadline (SIGALRM) ends it when the VM never connects. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(const char* what) {
    printf("L1: port peer failed: %s\n", what);
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    alarm(150); /* longer than rkt-vmm's --timeout-ms in linux-boot.sh */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    unlink(argv[1]);
    if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 1) != 0)
        return fail("cannot listen");
    int c = accept(s, 0, 0);
    if (c < 0) return fail("cannot accept the VMM's connection");
    char buf[256];
    size_t got = 0;
    while (got < sizeof buf - 1 && memchr(buf, '\n', got) == NULL) {
        ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    printf("L1: port peer got %s", buf);
    fflush(stdout);
    if (strcmp(buf, "ping\n") != 0) return fail("expected ping");
    if (write(c, "pong\n", 5) != 5) return fail("cannot answer");
    while (read(c, buf, sizeof buf) > 0) {
    }
    return 0;
}
