/* Says it started, then spins forever: the host has to stop it. */
#include "guest.h"

int main(void) {
    report(1);
    for (;;) pause();
}
