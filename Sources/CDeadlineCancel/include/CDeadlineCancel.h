#ifndef TALLY_DEADLINE_CANCEL_H
#define TALLY_DEADLINE_CANCEL_H

#include <libpq-fe.h>

/// A worker's request deadline: the supervisor sends SIGUSR2; the handler asks the server to cancel the
/// statement in progress (PQcancel is safe in a signal handler and returns once the server has the request),
/// so the transaction rolls back even if what it waited for comes free a moment later; then the process
/// exits with status 70.

/// Makes `target` (from PQgetCancel, or NULL) the statement to cancel, freeing the previous one.
void tally_deadline_set_target(PGcancel *target);

/// Installs the SIGUSR2 handler.
void tally_deadline_install_handler(void);

#endif
