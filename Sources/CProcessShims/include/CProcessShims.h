#ifndef TALLY_PROCESS_SHIMS_H
#define TALLY_PROCESS_SHIMS_H

#include <sys/types.h>

/// Asks the kernel to send `signal` to the calling process when its parent dies
/// (prctl is variadic and does not import into Swift). Returns 0 or -1 with errno.
int tally_set_parent_death_signal(int signal);

/// Spawns `path` with `argv`, the listening socket duplicated onto fd 0 (the FastCGI
/// convention), every signal at its default disposition and unblocked.
/// Returns the child's pid, or -1 with errno.
pid_t tally_spawn_worker(const char *path, char *const argv[], int listen_fd);

/// Installs handlers that record SIGTERM, SIGINT, SIGQUIT, SIGHUP and SIGCHLD in
/// flags the supervisor reads with tally_take_signal (a signal handler may only touch
/// such flags). Handlers are installed without SA_RESTART so that a blocking wait is interrupted.
void tally_install_supervisor_signals(void);

/// Returns and clears the flag for `signal`: 1 when it arrived since the last call.
int tally_take_signal(int signal);

#endif
