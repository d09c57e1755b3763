#include <libpq-fe.h>

/* The PG_DIAG_* field codes are character macros, which do not import into Swift. */
static const int TALLY_PG_DIAG_SQLSTATE = PG_DIAG_SQLSTATE;
static const int TALLY_PG_DIAG_MESSAGE_PRIMARY = PG_DIAG_MESSAGE_PRIMARY;
static const int TALLY_PG_DIAG_CONSTRAINT_NAME = PG_DIAG_CONSTRAINT_NAME;
static const int TALLY_PG_DIAG_SEVERITY_NONLOCALIZED = PG_DIAG_SEVERITY_NONLOCALIZED;

