#ifndef TALLY_PROCESS_SHIMS_H
#define TALLY_PROCESS_SHIMS_H

#include <sys/types.h>

#include "tally_scoreboard.h"

/// Asks the kernel to send `signal` to the calling process when its parent dies
/// (prctl is variadic and does not import into Swift). Returns 0 or -1 with errno.
int tally_set_parent_death_signal(int signal);

/// Spawns `path` with `argv`, the listening socket duplicated onto fd 0 (the FastCGI
/// convention), every signal at its default disposition and unblocked.
/// Returns the child's pid, or -1 with errno.
/// `scoreboard_fd`, when not -1, is duplicated onto fd 3.
pid_t tally_spawn_worker(const char *path, char *const argv[], int listen_fd, int scoreboard_fd);

/// Installs handlers that record SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 and SIGCHLD in
/// flags the supervisor reads with tally_take_signal (a signal handler may only touch
/// such flags). Handlers are installed without SA_RESTART so that a blocking wait is interrupted.
void tally_install_supervisor_signals(void);

/// Returns and clears the flag for `signal`: 1 when it arrived since the last call.
int tally_take_signal(int signal);

/// Opens `path` for appending as the process's stdout and stderr, and remembers it for tally_reopen_log.
/// Returns 0, or -1 with errno.
int tally_open_log(const char *path);

/// Opens the remembered log file again (after logrotate moved it). Async-signal-safe.
int tally_reopen_log(void);

/// A worker's SIGUSR1: reopen the log file in the signal handler itself (open and dup2 are
/// async-signal-safe), so that an idle worker blocked in accept reopens at once. Ignored without a log file.
void tally_reopen_log_on_sigusr1(void);

#endif
