#include "CProcessShims.h"

#include <signal.h>
#include <spawn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

extern char **environ;

int tally_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}

pid_t tally_spawn_worker(const char *path, char *const argv[], int listen_fd, int scoreboard_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t all, none;
    pid_t pid = -1;

    posix_spawn_file_actions_init(&actions);
    if (listen_fd != 0) {
        posix_spawn_file_actions_adddup2(&actions, listen_fd, 0);
    }
    if (scoreboard_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, scoreboard_fd, 3);
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
    int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD};
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

static char log_path[4096];

int tally_reopen_log(void) {
    if (log_path[0] == 0) return 0;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    return 0;
}

int tally_open_log(const char *path) {
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof log_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(log_path, path, length + 1);
    return tally_reopen_log();
}

static void reopen_log_handler(int signal) {
    (void)signal;
    int saved = errno;
    tally_reopen_log();
    errno = saved;
}

void tally_reopen_log_on_sigusr1(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = log_path[0] ? reopen_log_handler : SIG_IGN;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, NULL);
}
