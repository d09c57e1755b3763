#include "CProcessShims.h"

#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

int tally_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}

pid_t tally_spawn_worker(const char *path, char *const argv[], int listen_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t all, none;
    pid_t pid = -1;

    posix_spawn_file_actions_init(&actions);
    if (listen_fd != 0) {
        posix_spawn_file_actions_adddup2(&actions, listen_fd, 0);
    }
    posix_spawnattr_init(&attributes);
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    int rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return rc == 0 ? pid : -1;
}

static volatile sig_atomic_t pending[NSIG];

static void record_signal(int signal) {
    pending[signal] = 1;
}

void tally_install_supervisor_signals(void) {
    int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: interrupt the supervisor's sleep */
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        sigaction(signals[i], &action, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
}

int tally_take_signal(int signal) {
    if (signal <= 0 || signal >= NSIG || !pending[signal]) {
        return 0;
    }
    pending[signal] = 0;
    return 1;
}
