#include "CDeadlineCancel.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static PGcancel *volatile deadline_target;

static void deadline_handler(int signal) {
    (void)signal;
    char error[256];
    PGcancel *target = deadline_target;
    if (target != NULL) PQcancel(target, error, sizeof error);
    _exit(70);
}

void tally_deadline_set_target(PGcancel *target) {
    sigset_t deadline, previous;
    sigemptyset(&deadline);
    sigaddset(&deadline, SIGUSR2);
    sigprocmask(SIG_BLOCK, &deadline, &previous); /* the handler never sees a freed target */
    PGcancel *old = deadline_target;
    deadline_target = target;
    sigprocmask(SIG_SETMASK, &previous, NULL);
    if (old != NULL) PQfreeCancel(old);
}

void tally_deadline_install_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = deadline_handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR2, &action, NULL);
}
