#define _GNU_SOURCE
#include "tally_scoreboard.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TALLY_SCOREBOARD_MAGIC 0x54414c4c59534232ULL /* "TALLYSB2": the layout's version */

uint64_t tally_scoreboard_size(int32_t entry_count) {
    return sizeof(struct tally_scoreboard) + (uint64_t)entry_count * sizeof(struct tally_entry);
}

int tally_scoreboard_create(int32_t entry_count, struct tally_scoreboard **out) {
    int fd = memfd_create("tally-scoreboard", 0);
    if (fd < 0) return -1;
    uint64_t size = tally_scoreboard_size(entry_count);
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return -1;
    }
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) {
        close(fd);
        return -1;
    }
    struct tally_scoreboard *board = memory; /* a new memfd is all zeros */
    board->entry_count = entry_count;
    __atomic_store_n(&board->magic, TALLY_SCOREBOARD_MAGIC, __ATOMIC_RELEASE);
    *out = board;
    return fd;
}

int tally_scoreboard_attach(int fd, struct tally_scoreboard **out) {
    struct stat status;
    if (fstat(fd, &status) != 0 || (uint64_t)status.st_size < sizeof(struct tally_scoreboard)) return -1;
    void *memory = mmap(NULL, (size_t)status.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) return -1;
    struct tally_scoreboard *board = memory;
    if (__atomic_load_n(&board->magic, __ATOMIC_ACQUIRE) != TALLY_SCOREBOARD_MAGIC ||
        tally_scoreboard_size(board->entry_count) > (uint64_t)status.st_size) {
        munmap(memory, (size_t)status.st_size);
        return -1;
    }
    *out = board;
    return 0;
}

struct tally_entry *tally_scoreboard_entry(struct tally_scoreboard *board, int32_t index) {
    return &board->entries[index];
}
int64_t *tally_scoreboard_figure(struct tally_scoreboard *board, int figure) { return &board->figures[figure]; }
uint64_t *tally_entry_counter(struct tally_entry *entry, int counter) { return &entry->counters[counter]; }
uint64_t *tally_entry_requests(struct tally_entry *entry, int route, int status) {
    return &entry->requests[route][status];
}
uint64_t *tally_entry_bucket(struct tally_entry *entry, int route, int bucket) {
    return &entry->latency_buckets[route][bucket];
}
uint64_t *tally_entry_latency_sum(struct tally_entry *entry, int route) { return &entry->latency_sum_us[route]; }

void tally_entry_begin(struct tally_entry *entry, const char *request_id, const char *method, const char *uri,
                       int64_t now_us) {
    tally_copy_text(entry->request_id, TALLY_TEXT, request_id ? request_id : "-");
    /* "METHOD URI", cut to the field's size. */
    char *line = entry->request_line;
    int capacity = TALLY_TEXT * 2;
    tally_copy_text(line, capacity, method ? method : "-");
    size_t used = strlen(line);
    if (used + 1 < (size_t)capacity) {
        line[used] = ' ';
        tally_copy_text(line + used + 1, capacity - (int)used - 1, uri ? uri : "-");
    }
    __atomic_store_n(&entry->request_started_us, now_us, __ATOMIC_RELAXED);
    __atomic_fetch_add(&entry->request_serial, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&entry->state, TALLY_ENTRY_BUSY, __ATOMIC_RELEASE);
}

void tally_entry_end(struct tally_entry *entry) {
    __atomic_store_n(&entry->state, TALLY_ENTRY_IDLE, __ATOMIC_RELEASE);
}

void tally_add(int64_t *value, int64_t amount) { __atomic_fetch_add(value, amount, __ATOMIC_RELAXED); }
int64_t tally_load(const int64_t *value) { return __atomic_load_n(value, __ATOMIC_ACQUIRE); }
void tally_store(int64_t *value, int64_t new_value) { __atomic_store_n(value, new_value, __ATOMIC_RELEASE); }
uint64_t tally_load_u(const uint64_t *value) { return __atomic_load_n(value, __ATOMIC_ACQUIRE); }
void tally_add_u(uint64_t *value, uint64_t amount) { __atomic_fetch_add(value, amount, __ATOMIC_RELAXED); }
int32_t tally_load_i32(const int32_t *value) { return __atomic_load_n(value, __ATOMIC_ACQUIRE); }
void tally_store_i32(int32_t *value, int32_t new_value) { __atomic_store_n(value, new_value, __ATOMIC_RELEASE); }

void tally_raise(int64_t *value, int64_t candidate) {
    int64_t current = __atomic_load_n(value, __ATOMIC_RELAXED);
    while (current < candidate &&
           !__atomic_compare_exchange_n(value, &current, candidate, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void tally_copy_text(char *field, int capacity, const char *text) {
    size_t length = strnlen(text, (size_t)capacity - 1);
    memcpy(field, text, length);
    field[length] = 0;
}

/* A unix socket's accept queue, from the kernel's sock_diag: for a listening socket UNIX_DIAG_RQLEN holds
   the connections waiting (rqueue) and the backlog (wqueue). */
static int unix_listen_queue(int fd, uint32_t *waiting, uint32_t *capacity) {
    struct stat status;
    if (fstat(fd, &status) != 0) return -1;
    int netlink = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (netlink < 0) return -1;
    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST;
    message.request.sdiag_family = AF_UNIX;
    message.request.udiag_states = 1 << 10; /* TCP_LISTEN */
    message.request.udiag_ino = (uint32_t)status.st_ino;
    message.request.udiag_show = UDIAG_SHOW_RQLEN;
    message.request.udiag_cookie[0] = message.request.udiag_cookie[1] = ~0U;
    int result = -1;
    if (send(netlink, &message, sizeof message, 0) == (ssize_t)sizeof message) {
        char buffer[1024];
        ssize_t length = recv(netlink, buffer, sizeof buffer, 0);
        struct nlmsghdr *reply = (struct nlmsghdr *)buffer;
        if (length > 0 && NLMSG_OK(reply, (size_t)length) && reply->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            struct unix_diag_msg *diag = NLMSG_DATA(reply);
            int left = (int)(reply->nlmsg_len - NLMSG_LENGTH(sizeof *diag));
            for (struct rtattr *attribute = (struct rtattr *)(diag + 1); RTA_OK(attribute, left);
                 attribute = RTA_NEXT(attribute, left)) {
                if (attribute->rta_type == UNIX_DIAG_RQLEN) {
                    struct unix_diag_rqlen *queue = RTA_DATA(attribute);
                    *waiting = queue->udiag_rqueue;
                    *capacity = queue->udiag_wqueue;
                    result = 0;
                }
            }
        }
    }
    close(netlink);
    return result;
}

int tally_listen_queue(int fd, uint32_t *waiting, uint32_t *capacity) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return -1;
    if (address.ss_family == AF_UNIX) return unix_listen_queue(fd, waiting, capacity);
    /* For a listening TCP socket, TCP_INFO's unacked is the accept queue and sacked its backlog. */
    struct tcp_info info;
    socklen_t size = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return -1;
    *waiting = info.tcpi_unacked;
    *capacity = info.tcpi_sacked;
    return 0;
}
