/* The host end of the guest's protocol port for linux-boot-in-l1.sh: listens on a unix socket,
   answers one line with "pong", and prints what it saw. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    unlink(argv[1]);
    if (bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 1) != 0) return 1;
    int c = accept(s, 0, 0);
    char buf[256];
    int n = read(c, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("L1: port peer got %s", buf);
    fflush(stdout);
    if (write(c, "pong\n", 5) != 5) return 1;
    while (read(c, buf, sizeof buf) > 0) {
    }
    return 0;
}
