#ifndef TALLY_SCOREBOARD_H
#define TALLY_SCOREBOARD_H

#include <stdint.h>

/// The pool's scoreboard: one block of shared memory (a memfd the supervisor makes and every worker maps as
/// fd 3), like php-fpm's scoreboard. Each worker process owns one entry while it lives and writes its state
/// and counters there; the supervisor writes the pool's own figures in the header. Counters only grow (an
/// entry keeps them when its process dies and a new one takes it over), so the pool's totals are sums.
/// All access goes through the functions below, which use atomic operations: many processes share it.

#define TALLY_ROUTES 48        /* route labels: the API's endpoint templates, and one for "other" */
#define TALLY_STATUSES 20      /* HTTP statuses kept apart; the last index is "other" */
#define TALLY_BUCKETS 14       /* latency histogram buckets; the last is +Inf */
#define TALLY_TEXT 64

enum tally_entry_state { TALLY_ENTRY_FREE = 0, TALLY_ENTRY_IDLE = 1, TALLY_ENTRY_BUSY = 2 };

/// Counters a worker adds to (summed over entries for the pool).
enum tally_counter {
    TALLY_ACCEPTED = 0,
    TALLY_MOVEMENTS,
    TALLY_SERIALIZATION_RETRIES,
    TALLY_RETRIES_EXHAUSTED,
    TALLY_DATABASE_RECONNECTS,
    TALLY_COUNTER_COUNT
};

/// Figures the supervisor keeps in the header.
enum tally_pool_figure {
    TALLY_START_TIME = 0,       /* unix seconds */
    TALLY_MAX_ACTIVE,
    TALLY_MAX_CHILDREN_REACHED,
    TALLY_SLOW_REQUESTS,
    TALLY_DEADLINE_KILLS,
    TALLY_WORKER_DEATHS,
    TALLY_LISTEN_QUEUE,
    TALLY_MAX_LISTEN_QUEUE,
    TALLY_LISTEN_QUEUE_LEN,
    TALLY_TOTAL_PROCESSES,      /* the main lane's workers */
    TALLY_SPOOL_DEPTH,
    TALLY_SPOOL_OLDEST,
    /* The batch lane (POST /api/batches on a socket of its own): its workers and its listen queue. */
    TALLY_BATCH_PROCESSES,
    TALLY_BATCH_LISTEN_QUEUE,
    TALLY_BATCH_MAX_LISTEN_QUEUE,
    TALLY_BATCH_LISTEN_QUEUE_LEN,
    TALLY_BATCH_MAX_CHILDREN_REACHED,
    TALLY_FIGURE_COUNT
};

struct tally_entry {
    int32_t state;
    int32_t pid;
    /* Which group of workers the process belongs to: 0 the main lane, 1 the batch lane. */
    int32_t lane;
    int32_t padding;
    /* The request in progress (valid while state is BUSY): when it started (CLOCK_MONOTONIC microseconds),
       a serial that changes with every request, and its id, method and path for the supervisor's logs. */
    int64_t request_started_us;
    uint64_t request_serial;
    uint64_t slow_logged_serial;
    char request_id[TALLY_TEXT];
    char request_line[TALLY_TEXT * 2];
    uint64_t counters[TALLY_COUNTER_COUNT];
    uint64_t requests[TALLY_ROUTES][TALLY_STATUSES];
    uint64_t latency_buckets[TALLY_ROUTES][TALLY_BUCKETS];
    uint64_t latency_sum_us[TALLY_ROUTES];
};

struct tally_scoreboard {
    uint64_t magic;
    int32_t entry_count;
    int32_t padding;
    int64_t figures[TALLY_FIGURE_COUNT];
    struct tally_entry entries[];
};

/// Bytes a scoreboard with `entry_count` entries takes.
uint64_t tally_scoreboard_size(int32_t entry_count);
/// Creates the scoreboard in a new memfd (close-on-exec off, so workers inherit it). Returns the fd or -1.
int tally_scoreboard_create(int32_t entry_count, struct tally_scoreboard **out);
/// Maps the scoreboard a worker inherited as `fd`. Returns 0, or -1 when it is not a scoreboard.
int tally_scoreboard_attach(int fd, struct tally_scoreboard **out);

/// Pointers into the board, for the functions below (Swift sees C's fixed arrays as tuples).
struct tally_entry *tally_scoreboard_entry(struct tally_scoreboard *board, int32_t index);
int64_t *tally_scoreboard_figure(struct tally_scoreboard *board, int figure);
uint64_t *tally_entry_counter(struct tally_entry *entry, int counter);
uint64_t *tally_entry_requests(struct tally_entry *entry, int route, int status);
uint64_t *tally_entry_bucket(struct tally_entry *entry, int route, int bucket);
uint64_t *tally_entry_latency_sum(struct tally_entry *entry, int route);

/// A worker's request starts: its id and request line are written before the entry turns BUSY.
/* A request begins: its id and "METHOD URI" (NULL for one not given: "-") are copied, cut to their fields. */
void tally_entry_begin(struct tally_entry *entry, const char *request_id, const char *method, const char *uri,
                       int64_t now_us);
/// The request is answered: the entry turns IDLE.
void tally_entry_end(struct tally_entry *entry);

int64_t tally_load(const int64_t *value);
void tally_add(int64_t *value, int64_t amount);
void tally_store(int64_t *value, int64_t new_value);
/// Raises `*value` to `candidate` if it is smaller.
void tally_raise(int64_t *value, int64_t candidate);
uint64_t tally_load_u(const uint64_t *value);
void tally_add_u(uint64_t *value, uint64_t amount);
int32_t tally_load_i32(const int32_t *value);
void tally_store_i32(int32_t *value, int32_t new_value);
/// Copies `text` into a fixed field, cut to fit and NUL-terminated.
void tally_copy_text(char *field, int capacity, const char *text);

/// The listening socket's queue: connections waiting to be accepted, and the most it holds (the backlog).
/// Unix sockets through sock_diag, TCP through TCP_INFO. Returns 0, or -1 when the kernel does not tell.
int tally_listen_queue(int fd, uint32_t *waiting, uint32_t *capacity);

#endif
