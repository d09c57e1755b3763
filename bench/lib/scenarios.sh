# shellcheck shell=bash
# The scenarios of bench/bench.sh, one function each; each measures, checks and adds its row (report.sh).
# LOCAL is set when the stack is our own (its database, logs and processes can be read); against URL= only
# the load and what GET /api/status shows are available, and there is no ceiling.
# Globals cross the benchmark's files, which shellcheck reads one at a time: this file reads some that bench.sh
# sets (SC2153).
# shellcheck disable=SC2153

# --- transfers ---------------------------------------------------------------------------------------------

# tally_transfers NAME MODE CONNECTIONS [SECONDS]: transfers.lua (MODE uniform, hot or keyed), then on our
# own stack the checks that nothing was lost or doubled. Sets WRK_* and T_RETRIES.
tally_transfers() {
    local name=$1 mode=$2 conns=$3 secs=${4:-$SECS}
    local retries_before moved_before journal_before sum_before log_before
    retries_before=$(status_field serialization_retries)
    if [ -n "$LOCAL" ]; then
        moved_before=$(status_field movements)
        journal_before=$(transfers_in_journal)
        sum_before=$(balances_sum)
        log_before=$(access_log_lines)
    fi
    # On our own stack wrk counts only 2xx and the rest (statuses.lua), as the ceiling's wrk does: a
    # transfer's one 2xx is 201, and the 503s are read from nginx's access log below.
    local statuses=each
    [ -z "$LOCAL" ] || statuses=summary
    run_wrk "$name" "$conns" "$secs" transfers.lua BENCH_MODE="$mode" BENCH_STATUSES="$statuses"
    T_RETRIES=$(retries_per_thousand "$retries_before" "$WRK_OK")
    [ -n "$LOCAL" ] || return 0
    WRK_201=$WRK_OK
    wait_pool_idle
    # Each transfer answered 201 is in the journal once. wrk stops at its deadline with up to one request per
    # connection in flight: those may commit unseen (nginx logs them 499), so the journal may exceed wrk's
    # 201s by at most the connections, and nginx's 201s by at most its 499s. The pool's own count must agree.
    local grown nginx_201 nginx_499 moved sum_after ok=0 logged
    grown=$(($(transfers_in_journal) - journal_before))
    logged=$(access_log_since "$log_before" | grep '"uri":"/api/transfers"' || true)
    nginx_201=$(grep -c '"status":201' <<<"$logged" || true)
    nginx_499=$(grep -c '"status":499' <<<"$logged" || true)
    WRK_503=$(grep -c '"status":503' <<<"$logged" || true)
    moved=$(($(status_field movements) - moved_before))
    sum_after=$(balances_sum)
    [ "$grown" -ge "$WRK_201" ] && [ "$grown" -le $((WRK_201 + conns)) ] || ok=1
    [ "$grown" -ge "$nginx_201" ] && [ "$grown" -le $((nginx_201 + nginx_499)) ] || ok=1
    [ "$moved" -eq "$grown" ] || ok=1
    [ "$sum_after" = "$sum_before" ] || ok=1
    local text="journal +$grown transfers; wrk saw $WRK_201 201s (so $((grown - WRK_201)) committed in flight at the deadline, at most $conns);"
    text+=" nginx logged $nginx_201 201s and $nginx_499 abandoned; the pool counted +$moved;"
    text+=" sum of balances $([ "$sum_after" = "$sum_before" ] && echo unchanged || echo "changed $sum_before -> $sum_after")"
    if [ "$mode" = hot ]; then
        if verify_ledger; then text+="; tally verify clean"; else text+="; tally verify NOT clean"; ok=1; fi
    fi
    add_check "$name" "$ok" "$text"
}

# Waits (up to 5 s) until no worker but the one answering is busy: answers to requests wrk abandoned at its
# deadline are committed or rolled back by then.
wait_pool_idle() {
    local i active
    for ((i = 0; i < 50; i++)); do
        active=$(status_field active_processes)
        [ "${active:-0}" -le 1 ] && break
        sleep 0.1
    done
    sleep 0.2
}

# Uniform transfers: random pairs among the users, beside the ceiling's default mode.
scenario_uniform() {
    if [ -z "$LOCAL" ]; then
        tally_transfers uniform uniform "$CONNS"
        UNIFORM_RPS=$WRK_RPS
        add_row uniform "$WRK_RPS" - "$WRK_P50" - "$WRK_P99" - "$T_RETRIES" "$WRK_NON2XX" - -
        return
    fi
    in_rounds uniform "$CONNS" tally_transfers uniform uniform "$CONNS"
    UNIFORM_RPS=$WRK_RPS
    UNIFORM_CEIL=("$CEIL_RPS" "$CEIL_P50" "$CEIL_P99" "$CEIL_NON2XX")
    local r p99x met=0
    r=$(ratio "$WRK_RPS" "$CEIL_RPS")
    p99x=$(ratio "$WRK_P99" "$CEIL_P99")
    at_least "$r" 0.9 && ! at_least "$p99x" 1.51 || met=1
    verdict $met "ratio $r (>= 0.9), p99 ${p99x}x the ceiling's (<= 1.5x)"
    add_row uniform "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" "$T_RETRIES" \
        "$WRK_NON2XX" "$CEIL_NON2XX" "$VERDICT"
}

# Hot accounts: every transfer debits one of 10 users, at CONNECTIONS, beside the ceiling's --hot.
scenario_hot() {
    local conns=$1 name=hot
    [ "$conns" -eq "$CONNS" ] || name=hot-$conns
    if [ -z "$LOCAL" ]; then
        tally_transfers "$name" hot "$conns"
        local met=0
        [ "$WRK_503" -eq 0 ] || met=1
        verdict $met "$WRK_503 x 503 (0)"
        add_row "$name" "$WRK_RPS" - "$WRK_P50" - "$WRK_P99" - "$T_RETRIES" "$WRK_NON2XX" - \
            "$VERDICT"
        return
    fi
    in_rounds hot "$conns" tally_transfers "$name" hot "$conns"
    local r met=0
    r=$(ratio "$WRK_RPS" "$CEIL_RPS")
    at_least "$r" 0.9 && [ "$WRK_503" -eq 0 ] || met=1
    verdict $met "ratio $r (>= 0.9), $WRK_503 x 503 (0); journal: see the checks"
    add_row "$name" "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" "$T_RETRIES" \
        "$WRK_NON2XX" "$CEIL_NON2XX" "$VERDICT"
}

# Alert-judged deposits and withdrawals (two round trips), beside the uniform ceiling. No target of its own.
scenario_events() {
    local retries_before
    retries_before=$(status_field serialization_retries)
    run_wrk events "$CONNS" "$SECS" events.lua
    T_RETRIES=$(retries_per_thousand "$retries_before" "$WRK_OK")
    ensure_uniform_ceiling
    add_row events "$WRK_RPS" "${UNIFORM_CEIL[0]}" "$WRK_P50" "${UNIFORM_CEIL[1]}" "$WRK_P99" \
        "${UNIFORM_CEIL[2]}" "$T_RETRIES" "$WRK_NON2XX" "${UNIFORM_CEIL[3]}" "- (the uniform ceiling's figures)"
}

# The uniform ceiling of this run, for the scenarios compared with it, when uniform did not run.
ensure_uniform_ceiling() {
    [ -n "$LOCAL" ] || { UNIFORM_CEIL=(- - - -); return; }
    [ ${#UNIFORM_CEIL[@]} -gt 0 ] && return
    run_ceiling uniform "$CONNS" "$WORKERS" "$SECS"
    UNIFORM_CEIL=("$CEIL_RPS" "$CEIL_P50" "$CEIL_P99" "$CEIL_NON2XX")
}

# --- the pool alone, and reads -----------------------------------------------------------------------------

# GET /api/ping: the pool without the database, beside the ceiling's --noop.
scenario_ping() {
    if [ -z "$LOCAL" ]; then
        run_wrk ping "$CONNS" "$SECS" reads.lua BENCH_READ=ping
        add_row ping "$WRK_RPS" - "$WRK_P50" - "$WRK_P99" - - "$WRK_NON2XX" - -
        return
    fi
    in_rounds noop "$CONNS" ping_load
    local r met=0
    r=$(ratio "$WRK_RPS" "$CEIL_RPS")
    at_least "$r" 0.95 || met=1
    verdict $met "ratio $r (>= 0.95)"
    add_row ping "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" - "$WRK_NON2XX" \
        "$CEIL_NON2XX" "$VERDICT"
}

# GET /api/ping for SECS; wrk counts as the ceiling's does (statuses.lua).
ping_load() {
    T_RETRIES=-
    run_wrk ping "$CONNS" "$SECS" reads.lua BENCH_READ=ping BENCH_STATUSES=summary
}

# A journal size as a label: 1.0M, 250k.
journal_label() { awk -v n="$1" 'BEGIN { if (n >= 1000000) printf "%.1fM", n / 1000000; else printf "%dk", n / 1000 }'; }

# GET /api/users/{id} and the first page of a user's history, with READS_JOURNAL movements in the journal.
scenario_reads() {
    [ -z "$LOCAL" ] || grow_journal "$READS_JOURNAL"
    local label=""
    [ -z "$LOCAL" ] || label=@$(journal_label "$(journal_size)")
    local read met
    for read in user history; do
        run_wrk "read-$read" "$CONNS" "$SECS" reads.lua BENCH_READ="$read"
        met=0
        awk -v p="$WRK_P99" 'BEGIN { exit !(p < 5) }' || met=1
        verdict $met "p99 $(printf '%.2f' "$WRK_P99") ms (< 5)"
        add_row "$read$label" "$WRK_RPS" - "$WRK_P50" - "$WRK_P99" - - "$WRK_NON2XX" - \
            "$VERDICT"
    done
}

# --- growth and the purge of old idempotency keys ---------------------------------------------------------

# Uniform transfers with GROWTH_JOURNAL movements in the journal, against uniform's rate on the (nearly) empty
# journal earlier in the run. The ceiling runs again beside it, and the target is judged on the ratios to the
# ceiling (Tally/ceiling now over Tally/ceiling then): minutes apart on a shared machine, the raw rates drift
# more than a journal's growth could move them.
scenario_growth() {
    grow_journal "$GROWTH_JOURNAL"
    local name
    name=uniform@$(journal_label "$(journal_size)")
    tally_transfers "$name" uniform "$CONNS"
    run_ceiling uniform "$CONNS" "$WORKERS" "$SECS"
    local vs_empty adjusted met=0
    vs_empty=$(ratio "$WRK_RPS" "${UNIFORM_RPS:--}")
    adjusted=$(ratio "$(ratio "$WRK_RPS" "$CEIL_RPS")" "$(ratio "${UNIFORM_RPS:--}" "${UNIFORM_CEIL[0]:--}")")
    at_least "$adjusted" 0.9 || met=1
    verdict $met "$adjusted of the empty journal's rate, each to its ceiling (>= 0.9); raw $vs_empty"
    add_row "$name" "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" "$T_RETRIES" \
        "$WRK_NON2XX" "$CEIL_NON2XX" "$VERDICT"
}

# Idempotency keys past their retention are purged while keyed transfers run. The workers purge on a timer
# (Sources/tally/WorkerCommand.swift, KeyPurgeSchedule: 1,000 keys per worker every 10-11 minutes) and the pool
# has no way to purge on demand, so this runs the workers' own statement (bench/sql/purge.sql) from psql, batch
# after batch, SERIALIZABLE as in the pool, during the second of two keyed loads.
scenario_purge() {
    log "== purge: $PURGE_KEYS idempotency keys two days old"
    sql -v keys="$PURGE_KEYS" -f "$BENCH_DIR/sql/old-keys.sql"
    ensure_uniform_ceiling
    tally_transfers uniform-key keyed "$CONNS"
    local base_p99=$WRK_P99
    add_row uniform-key "$WRK_RPS" "${UNIFORM_CEIL[0]}" "$WRK_P50" "${UNIFORM_CEIL[1]}" "$WRK_P99" \
        "${UNIFORM_CEIL[2]}" "$T_RETRIES" "$WRK_NON2XX" "${UNIFORM_CEIL[3]}" "- (the uniform ceiling's figures)"

    (
        sleep 1
        purge_old_keys >"$STATE/purge.out"
    ) &
    PURGE_PID=$!
    tally_transfers uniform-key+purge keyed "$CONNS"
    local keyed_rps=$WRK_RPS
    wait "$PURGE_PID" || true
    PURGE_PID=
    local purged seconds failed left by_workers met=0 p99x
    read -r purged seconds failed <"$STATE/purge.out"
    left=$(old_keys)
    # A worker whose turn came meanwhile purged some too (its first turn is 0-60 s after it started).
    by_workers=$((PURGE_KEYS - left - purged))
    p99x=$(ratio "$WRK_P99" "$base_p99")
    [ "$left" -eq 0 ] && [ "$WRK_NON2XX" -eq 0 ] && ! at_least "$p99x" 1.51 || met=1
    verdict $met "$((PURGE_KEYS - left)) old keys purged in $seconds s, $left left; p99 ${p99x}x the keyed load's without purge (<= 1.5x)"
    add_row uniform-key+purge "$WRK_RPS" "${UNIFORM_CEIL[0]}" "$WRK_P50" "${UNIFORM_CEIL[1]}" "$WRK_P99" \
        "${UNIFORM_CEIL[2]}" "$T_RETRIES" "$WRK_NON2XX" "${UNIFORM_CEIL[3]}" "$VERDICT"
    add_block "Purge of old idempotency keys ($PURGE_KEYS keys two days old, retention 24 h), during the second keyed load:
  the workers' statement (bench/sql/purge.sql, batches of 1,000) from psql, from 1 s into the ${SECS} s load:
    purged $purged in $seconds s; $failed batches failed and ran again
  the workers' own turns meanwhile: $by_workers; left: $left
  In the pool each worker takes a turn about once a minute (at its own random offset), after a response has
  gone out: batches of 1,000 until none are left or 0.2 s is spent. At the rate above that is room for
  $(awk -v w="$WORKERS" -v p="$purged" -v s="$seconds" 'BEGIN { if (s > 0) printf "~%.0f", w * 0.2 * p / s / 60; else print "?" }') keys/s with $WORKERS workers, against ~$keyed_rps new keys/s made by this keyed load."
}

# --- memory ------------------------------------------------------------------------------------------------

# Waits until the pool has accepted N requests (GET /api/status accepted_conn); false if the load died.
wait_accepted() {
    local goal=$1 n
    while :; do
        n=$(status_field accepted_conn)
        [ "${n:-0}" -ge "$goal" ] && return 0
        kill -0 "$LOAD_PID" 2>/dev/null || return 1
        sleep 0.2
    done
}

# Each worker's resident memory (VmRSS) after the pool's first 10,000 requests and after MEMORY_REQUESTS, on a
# fresh pool under GET MEMORY_READ (reads.lua: user or ping) at CONNS connections.
scenario_memory() {
    local early=10000 total=$MEMORY_REQUESTS
    restart_pool "$WORKERS"
    log "== memory: $total requests (reads.lua $MEMORY_READ) on a fresh pool of $WORKERS workers"
    local started=$SECONDS
    TALLY_STACK=$STATE BENCH_TOKEN="$TOKEN" BENCH_USERS="$USERS" BENCH_FIRST_USER="$FIRST_USER" \
        BENCH_READ="$MEMORY_READ" wrk -t2 -c"$CONNS" -d3600s --latency -s "$BENCH_DIR/lua/reads.lua" \
        "$BASE_URL/" >"$STATE/wrk-memory.txt" 2>&1 &
    LOAD_PID=$!
    wait_accepted "$early" || die "memory: the load stopped before $early requests"
    local -A first last
    local pid
    for pid in $(worker_pids); do first[$pid]=$(rss_kb "$pid"); done
    wait_accepted "$total" || die "memory: the load stopped before $total requests"
    for pid in $(worker_pids); do last[$pid]=$(rss_kb "$pid"); done
    kill -INT "$LOAD_PID"
    wait "$LOAD_PID" || true
    LOAD_PID=
    local seconds=$((SECONDS - started)) out
    out=$(cat "$STATE/wrk-memory.txt")
    local rps p50 p99 non2xx
    rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    p50=$(ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    p99=$(ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")

    # One "pid first_kB last_kB" line per worker that lived through both samples.
    local figures="" replaced=0
    for pid in $(printf '%s\n' "${!first[@]}" | sort -n); do
        if [ -n "${last[$pid]:-}" ]; then
            figures+="$pid ${first[$pid]} ${last[$pid]}"$'\n'
        else
            replaced=$((replaced + 1))
        fi
    done
    local summary max_growth max_mb met=0
    summary=$(awk 'NF == 3 { g = 100 * ($3 - $2) / $2
            if (n == 0 || $2 < f_min) f_min = $2; if ($2 > f_max) f_max = $2
            if (n == 0 || $3 < l_min) l_min = $3; if ($3 > l_max) l_max = $3
            if (n == 0 || g < g_min) g_min = g; if (n == 0 || g > g_max) g_max = g
            each = each (n > 0 && n % 8 == 0 ? "\n                           " : "") sprintf(" %.1f->%.1f", $2 / 1024, $3 / 1024)
            n++ }
        END { printf "%.1f %.1f %d\n", g_max, l_max / 1024, n
              printf "  after the first requests: %.1f to %.1f MB\n", f_min / 1024, f_max / 1024
              printf "  after all of them:        %.1f to %.1f MB\n", l_min / 1024, l_max / 1024
              printf "  growth per worker:        %+.1f%% to %+.1f%%\n", g_min, g_max
              printf "  each worker (MB):        %s\n", each }' <<<"$figures")
    read -r max_growth max_mb _ <<<"$(head -1 <<<"$summary")"
    awk -v g="$max_growth" -v m="$max_mb" 'BEGIN { exit !(g <= 10 && m < 30) }' && [ "$replaced" -eq 0 ] || met=1
    local label
    label=memory@$(journal_label "$total" | sed 's/k$/k req/; s/M$/M req/')
    verdict $met "workers' RSS grew at most ${max_growth}% (<= 10%), largest $max_mb MB (< 30)"
    add_row "$label" "$rps" - "$p50" - "$p99" - - "${non2xx:-0}" - "$VERDICT"
    add_block "Memory: VmRSS of each of the $WORKERS workers after the pool's first $early requests and after $total
(reads.lua $MEMORY_READ, $CONNS connections, ${seconds} s; the supervisor $(awk '{ printf "%.1f", $1 / 1024 }' <<<"$(rss_kb "$(pool_pid "$STATE")")") MB)$([ "$replaced" -eq 0 ] || echo "; $replaced worker(s) replaced meanwhile, not counted"):
$(tail -n +2 <<<"$summary")"
}

# --- scaling -----------------------------------------------------------------------------------------------

# Uniform transfers/s at 1, 4, 16, 64 and 256 connections (WORKERS workers), and with 4, 8, 16 and 32
# workers (64 connections), each beside the ceiling with the same connections and workers.
scenario_scaling() {
    local secs=$SCALING_SECS conns workers
    local -A tally ceiling
    for conns in 1 4 16 64 256; do
        run_wrk "scale-c$conns" "$conns" "$secs" transfers.lua BENCH_MODE=uniform BENCH_STATUSES=summary
        tally[c$conns]=$WRK_RPS
        ceiling[c$conns]=-
        # The ceiling runs wrk with two threads, so it cannot load one connection.
        [ "$conns" -lt 2 ] || { run_ceiling uniform "$conns" "$WORKERS" "$secs" && ceiling[c$conns]=$CEIL_RPS; }
    done
    for workers in 4 8 16 32; do
        if [ "$workers" -eq "$WORKERS" ]; then
            tally[w$workers]=${tally[c64]}
            ceiling[w$workers]=${ceiling[c64]}
            continue
        fi
        restart_pool "$workers"
        run_wrk "scale-w$workers" 64 "$secs" transfers.lua BENCH_MODE=uniform BENCH_STATUSES=summary
        tally[w$workers]=$WRK_RPS
        run_ceiling uniform 64 "$workers" "$secs"
        ceiling[w$workers]=$CEIL_RPS
    done
    restart_pool "$WORKERS"
    local best=4 row text
    for workers in 8 16 32; do
        [ "${tally[w$workers]}" -le "${tally[w$best]}" ] || best=$workers
    done
    text="Scaling: uniform transfers/s, ${secs} s each, Tally beside the ceiling with the same connections and workers"
    text+=$'\n'$(printf '  %11s %8s %8s %10s %6s' connections workers Tally/s ceiling/s ratio)
    for row in c1 c4 c16 c64 c256 w4 w8 w16 w32; do
        [ "$row" != "w$WORKERS" ] || continue # the same load as c64
        if [[ $row == c* ]]; then conns=${row#c} workers=$WORKERS; else conns=64 workers=${row#w}; fi
        text+=$'\n'$(printf '  %11s %8s %8s %10s %6s' "$conns" "$workers" "${tally[$row]}" "${ceiling[$row]}" \
            "$(ratio "${tally[$row]}" "${ceiling[$row]}")")
    done
    text+=$'\n'"  Most transfers/s at 64 connections with $best workers; the pool's default here is $(default_workers)"
    text+=" (4 x $(nproc) cores, at least 8)."
    add_block "$text"
}

# The pool's default worker count on this machine (Sources/tally/ServeCommand.swift, defaultWorkerCount).
default_workers() { local n=$((4 * $(nproc))); [ "$n" -ge 8 ] && echo "$n" || echo 8; }

# --- batches -----------------------------------------------------------------------------------------------

# tally_batches NAME MODE SIZE CONNECTIONS [SECONDS]: batches.lua (atomic batches of SIZE transfers of 0.01;
# MODE uniform or hot), then on our own stack the checks that every batch went in whole or not at all. Sets
# WRK_* (WRK_RPS in transfers/s: the items of the batches answered 2xx, not requests; WRK_OK in batches) and
# T_RETRIES, per 1,000 batches.
tally_batches() {
    local name=$1 mode=$2 size=$3 conns=$4 secs=${5:-$SECS}
    local retries_before moved_before journal_before sum_before log_before
    retries_before=$(status_field serialization_retries)
    if [ -n "$LOCAL" ]; then
        moved_before=$(status_field movements)
        journal_before=$(transfers_in_journal)
        sum_before=$(balances_sum)
        log_before=$(access_log_lines)
    fi
    local statuses=each
    [ -z "$LOCAL" ] || statuses=summary
    run_wrk "$name" "$conns" "$secs" batches.lua BENCH_MODE="$mode" BENCH_BATCH="$size" BENCH_STATUSES="$statuses"
    T_RETRIES=$(retries_per_thousand "$retries_before" "$WRK_OK")
    WRK_RPS=$(awk -v r="$WRK_RPS_EXACT" -v ok="$WRK_OK" -v all="$WRK_TOTAL" -v n="$size" \
        'BEGIN { if (all > 0) printf "%d", r * n * ok / all; else print 0 }')
    log "$name: $WRK_RPS transfers/s"
    [ -n "$LOCAL" ] || return 0
    wait_pool_idle
    # As after single transfers (tally_transfers), with each 2xx standing for SIZE transfers: up to one batch
    # per connection may commit unseen at wrk's deadline. And a batch is all or nothing: the journal grows by
    # whole batches.
    local grown logged nginx_201 nginx_499 others moved sum_after ok=0
    grown=$(($(transfers_in_journal) - journal_before))
    logged=$(access_log_since "$log_before" | grep '"uri":"/api/batches"' || true)
    nginx_201=$(grep -c '"status":201' <<<"$logged" || true)
    nginx_499=$(grep -c '"status":499' <<<"$logged" || true)
    WRK_503=$(grep -c '"status":503' <<<"$logged" || true)
    others=$(grep -o '"status":[0-9]*' <<<"$logged" | grep -v ':201$\|:499$' | cut -d: -f2 | sort | uniq -c |
        awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }' || true)
    moved=$(($(status_field movements) - moved_before))
    sum_after=$(balances_sum)
    [ $((grown % size)) -eq 0 ] || ok=1
    [ "$grown" -ge $((WRK_OK * size)) ] && [ "$grown" -le $(((WRK_OK + conns) * size)) ] || ok=1
    [ "$grown" -ge $((nginx_201 * size)) ] && [ "$grown" -le $(((nginx_201 + nginx_499) * size)) ] || ok=1
    [ "$moved" -eq "$grown" ] || ok=1
    [ "$sum_after" = "$sum_before" ] || ok=1
    [ "$WRK_NON2XX" -eq 0 ] || ok=1
    local text
    text="journal +$grown transfers ($((grown / size)) whole batches of $size$([ $((grown % size)) -eq 0 ] || echo ", and $((grown % size)) left over"));"
    text+=" wrk saw $WRK_OK 2xx and $WRK_NON2XX others$([ -z "$others" ] || echo " (nginx: $others)");"
    text+=" nginx logged $nginx_201 201s and $nginx_499 abandoned; the pool counted +$moved movements;"
    text+=" sum of balances $([ "$sum_after" = "$sum_before" ] && echo unchanged || echo "changed $sum_before -> $sum_after")"
    add_check "$name" "$ok" "$text"
}

# The i-th user of the bench (0-based), as the wrk scripts number them (env.lua).
bench_user() {
    if [ -n "$USER_IDS" ]; then sed -n "$(($1 + 1))p" "$USER_IDS"; else echo $((FIRST_USER + $1)); fi
}

# The hot loads only ever debit the first 10 users, 0.01 an item: a full run's hot batches move some 2M items,
# 2,000.00 from each of them against the 1,000.00 they start with. So each gets 100,000.00 first, through
# the API (a deposit in the journal like any other: tally verify still holds), and no batch is refused for
# want of funds. Once a run.
HOT_FUNDED=
fund_hot_users() {
    [ -z "$HOT_FUNDED" ] || return 0
    local i
    for ((i = 0; i < 10; i++)); do
        curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d '{"amount":"100000.00","memo":"bench: funds for the hot batches"}' \
            "$BASE_URL/api/users/$(bench_user "$i")/deposits" || die "could not fund hot user $(bench_user "$i")"
    done
    HOT_FUNDED=1
}

# single_rate MODE CONNECTIONS: Tally's own single transfers (POST /api/transfers, transfers.lua MODE) for
# BATCH_SECS just before the batches they are compared with; sets SINGLE_RPS[MODE-cCONNECTIONS].
declare -A SINGLE_RPS=()
single_rate() {
    local mode=$1 conns=$2 statuses=each
    [ -z "$LOCAL" ] || statuses=summary
    run_wrk "single-$mode-c$conns" "$conns" "$BATCH_SECS" transfers.lua BENCH_MODE="$mode" BENCH_STATUSES="$statuses"
    SINGLE_RPS[$mode-c$conns]=$WRK_RPS
}

# batch_load MODE SIZE CONNECTIONS: one row. Batches of 100 and more at CONNS connections are the targets
# (issue 25): alternated with the ceiling's batch mode in BATCH_ROUNDS rounds as uniform and hot are; the others one
# load each beside one of the ceiling's, BATCH_SECS long (BATCH_SHORT_SECS below 100 items).
batch_load() {
    local mode=$1 size=$2 conns=$3 name=batch$2 secs=$BATCH_SECS target=
    [ "$mode" = uniform ] || name+=-hot
    [ "$conns" -eq "$CONNS" ] || name+=-c$conns
    [ "$size" -ge 100 ] || secs=$BATCH_SHORT_SECS
    [ "$size" -lt 100 ] || [ "$conns" -ne "$CONNS" ] || target=1
    if [ -z "$LOCAL" ]; then
        tally_batches "$name" "$mode" "$size" "$conns" "$secs"
        CEIL_RPS=- CEIL_P50=- CEIL_P99=- CEIL_NON2XX=-
    elif [ -n "$target" ]; then
        local rounds=$ROUNDS
        ROUNDS=$BATCH_ROUNDS
        in_rounds "$mode:$size" "$conns" tally_batches "$name" "$mode" "$size" "$conns"
        ROUNDS=$rounds
    else
        tally_batches "$name" "$mode" "$size" "$conns" "$secs"
        run_ceiling "$mode:$size" "$conns" "$WORKERS" "$secs"
    fi
    local r x met=0
    r=$(ratio "$WRK_RPS" "$CEIL_RPS")
    x=$(ratio "$WRK_RPS" "${SINGLE_RPS[$mode-c$conns]:--}")
    if [ -n "$target" ]; then
        { [ -z "$LOCAL" ] || at_least "$r" 0.8; } && at_least "$x" 8 && [ "$WRK_NON2XX" -eq 0 ] || met=1
        verdict $met "ratio $r (>= 0.8), ${x}x single (>= 8), $WRK_NON2XX non-2xx (0)"
    else
        VERDICT="- (${x}x single)"
    fi
    add_row "$name" "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" "$T_RETRIES" \
        "$WRK_NON2XX" "$CEIL_NON2XX" "$VERDICT"
}

# Atomic batches of BATCH_SIZES transfers, uniform and hot, at BATCH_CONNS connections, each beside the
# ceiling's batch mode (run.sh --batch N [--hot]) and beside Tally's own single transfers just before.
scenario_batches() {
    fund_hot_users
    local conns mode size singles=""
    for conns in $BATCH_CONNS; do
        for mode in uniform hot; do
            single_rate "$mode" "$conns"
            singles+=" $mode at $conns connections ${SINGLE_RPS[$mode-c$conns]}/s;"
            for size in $BATCH_SIZES; do batch_load "$mode" "$size" "$conns"; done
        done
    done
    if [ -n "$LOCAL" ]; then
        local ok=0
        verify_ledger || ok=1
        add_check batches "$ok" "tally verify after the batches: $(tail -1 "$STATE/verify.txt")"
    fi
    local durations="Batches of 100 and more at $CONNS connections: $BATCH_ROUNDS rounds of ${ROUND_SECS} s by turns with the
ceiling; the others ${BATCH_SECS} s (under 100 items ${BATCH_SHORT_SECS} s) each side."
    [ -n "$LOCAL" ] || durations="No ceiling (URL=): ${BATCH_SECS} s a load (under 100 items ${BATCH_SHORT_SECS} s)."
    add_block "Batches (POST /api/batches, atomic, service token, transfers of 0.01 at random; hot: every item debits
one of 10 users): Tally/s and ceiling/s are transfers/s (items, not requests), p50 and p99 a request's,
retries per 1,000 batches. The ceiling: run.sh --batch N [--hot] (batch1: its single transfers).
$durations Tally's single transfers (POST /api/transfers), ${BATCH_SECS} s just before each group,
the 'x single' figures' base:${singles%;}."
}

# Single transfers beside a batch load: batches of MIXED_BATCH uniform transfers from one wrk at CONNS
# connections and single uniform transfers from another at 4, starting 1 s later and ending 1 s sooner.
# Target (issue 25): the single transfers' p99 under 50 ms.
scenario_batches_mixed() {
    local size=$MIXED_BATCH secs=$SECS sum_before='' log_before='' pool_log_before=''
    if [ -n "$LOCAL" ]; then
        sum_before=$(balances_sum)
        log_before=$(access_log_lines)
        pool_log_before=$(wc -l <"$STATE/log/tally.log")
    fi
    env BENCH_TOKEN="$TOKEN" BENCH_USERS="$USERS" BENCH_FIRST_USER="$FIRST_USER" BENCH_USER_IDS="$USER_IDS" \
        BENCH_MODE=uniform BENCH_BATCH="$size" BENCH_STATUSES=summary \
        wrk -t2 -c"$CONNS" -d"$((secs + 2))s" --timeout 10s --latency -s "$BENCH_DIR/lua/batches.lua" \
        "$BASE_URL/" >"$STATE/wrk-mixed-batch$size.txt" 2>&1 &
    LOAD_PID=$!
    sleep 1
    run_wrk mixed-single 4 "$secs" transfers.lua BENCH_MODE=uniform BENCH_STATUSES=summary
    local single=("$WRK_RPS" "$WRK_P50" "$WRK_P99" "$WRK_NON2XX")
    wait "$LOAD_PID" || true
    LOAD_PID=
    wrk_figures "mixed-batch$size"
    local transfers
    transfers=$(awk -v r="$WRK_RPS_EXACT" -v ok="$WRK_OK" -v all="$WRK_TOTAL" -v n="$size" \
        'BEGIN { if (all > 0) printf "%d", r * n * ok / all; else print 0 }')
    add_row "mixed-batch$size" "$transfers" - "$WRK_P50" - "$WRK_P99" - - "$WRK_NON2XX" - \
        "- (the batch load beside mixed-single)"
    local met=0
    awk -v p="${single[2]}" 'BEGIN { exit !(p < 50) }' && [ "${single[3]}" -eq 0 ] && [ "$WRK_NON2XX" -eq 0 ] || met=1
    verdict $met "single transfers' p99 $(printf '%.1f' "${single[2]}") ms (< 50) beside $transfers batched transfers/s; non-2xx ${single[3]} and $WRK_NON2XX (0)"
    add_row mixed-single "${single[0]}" - "${single[1]}" - "${single[2]}" - - "${single[3]}" - "$VERDICT"
    if [ -n "$LOCAL" ]; then
        wait_pool_idle
        local sum_after ok=0
        sum_after=$(balances_sum)
        [ "$sum_after" = "$sum_before" ] || ok=1
        add_check mixed "$ok" "sum of balances $([ "$ok" -eq 0 ] && echo unchanged || echo "changed $sum_before -> $sum_after")"
        # Where the single transfers' time went: nginx's request_time against the pool's own duration_ms; the
        # difference is the wait for a free worker (all of them busy with batches, most waiting for their turn).
        local nginx_single pool_single pool_batch
        nginx_single=$(access_log_since "$log_before" | grep '"uri":"/api/transfers"' |
            grep -o '"request_time":[0-9.]*' | awk -F: '{ print $2 * 1000 }' | percentiles)
        pool_single=$(tail -n +"$((pool_log_before + 1))" "$STATE/log/tally.log" | grep '"path":"/api/transfers"' |
            grep -o '"duration_ms":[0-9.]*' | cut -d: -f2 | percentiles)
        pool_batch=$(tail -n +"$((pool_log_before + 1))" "$STATE/log/tally.log" | grep '"path":"/api/batches"' |
            grep -o '"duration_ms":[0-9.]*' | cut -d: -f2 | percentiles)
        add_block "batches-mixed: single transfers from 4 connections beside batches of $size from $CONNS, $WORKERS workers.
  The single transfers, p50 / p99: $nginx_single ms at nginx, $pool_single ms in the pool (the rest: waiting
  for a free worker); the batches in the pool: $pool_batch ms (their turn on the batches' lock included)."
    fi
}

# Reads milliseconds, one a line, and prints "P50 / P99" (one decimal), or "- / -" when there are none.
percentiles() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- / -"; exit }
        i = int(NR * 0.99); if (i < NR * 0.99) i++; printf "%.1f / %.1f\n", v[int((NR + 1) / 2)], v[i] }'
}

# --- holds -------------------------------------------------------------------------------------------------

# Hold then capture (issue 26): a payment in two requests (bench/lua/holds.lua: POST /api/holds, then POST
# /api/holds/{id}/capture once the hold's answer came), uniform users, CONNS connections, SECS seconds; beside
# Tally's single uniform transfers (POST /api/transfers) for as long just before. Payments/s are the captures
# answered 200 per second. No ceiling (it has no holds) and no target: the figure is the ratio to a transfer.
scenario_holds() {
    local statuses=each
    [ -z "$LOCAL" ] || statuses=summary
    run_wrk holds-single "$CONNS" "$SECS" transfers.lua BENCH_MODE=uniform BENCH_STATUSES="$statuses"
    local single_rps=$WRK_RPS
    add_row holds-single "$WRK_RPS" - "$WRK_P50" - "$WRK_P99" - - "$WRK_NON2XX" - \
        "- (single transfers just before hold-capture)"
    local retries_before journal_before sum_before log_before
    retries_before=$(status_field serialization_retries)
    if [ -n "$LOCAL" ]; then
        journal_before=$(transfers_in_journal)
        sum_before=$(balances_sum)
        log_before=$(access_log_lines)
    fi
    run_wrk hold-capture "$CONNS" "$SECS" holds.lua
    local captured payments x
    captured=$((WRK_OK - WRK_201))
    payments=$(awk -v r="$WRK_RPS_EXACT" -v c="$captured" -v all="$WRK_TOTAL" \
        'BEGIN { if (all > 0) printf "%d", r * c / all; else print 0 }')
    T_RETRIES=$(retries_per_thousand "$retries_before" "$captured")
    x=$(ratio "$payments" "$single_rps")
    log "hold-capture: $payments payments/s ($WRK_201 holds and $captured captures answered), ${x}x a transfer's $single_rps/s"
    add_row hold-capture "$payments" - "$WRK_P50" - "$WRK_P99" - "$T_RETRIES" "$WRK_NON2XX" - \
        "- (${x}x holds-single; payments/s, 2 requests each)"
    add_block "Hold then capture (bench/lua/holds.lua): a payment is POST /api/holds of 0.01 between random users, then
POST /api/holds/{id}/capture of all of it once the hold's answer came; $CONNS connections, ${SECS} s. hold-capture's
Tally/s is payments (captures answered 200) per second, its p50 and p99 a request's (hold or capture), retries per
1,000 payments; holds-single is Tally's single uniform transfers for as long just before (the x figure's base).
Answers: $WRK_201 holds placed, $captured captured, $WRK_NON2XX others."
    [ -n "$LOCAL" ] || return 0
    wait_pool_idle
    # Each capture answered 200 is one transfer in the journal; at wrk's deadline up to one capture per
    # connection may commit unseen. Holds left pending (placed at the deadline, their capture never sent) move
    # nothing: the sum of balances is the same, and tally verify checks every balance and hold.
    local grown logged nginx_200 nginx_499 sum_after pending ok=0 text
    grown=$(($(transfers_in_journal) - journal_before))
    logged=$(access_log_since "$log_before" | grep '"uri":"/api/holds/[0-9]*/capture"' || true)
    nginx_200=$(grep -c '"status":200' <<<"$logged" || true)
    nginx_499=$(grep -c '"status":499' <<<"$logged" || true)
    sum_after=$(balances_sum)
    pending=$(pending_holds)
    [ "$grown" -ge "$captured" ] && [ "$grown" -le $((captured + CONNS)) ] || ok=1
    [ "$grown" -ge "$nginx_200" ] && [ "$grown" -le $((nginx_200 + nginx_499)) ] || ok=1
    [ "$sum_after" = "$sum_before" ] || ok=1
    [ "$WRK_NON2XX" -eq 0 ] || ok=1
    text="journal +$grown transfers for $captured captures answered (at most $CONNS committed in flight at the deadline);"
    text+=" nginx logged $nginx_200 captures and $nginx_499 abandoned; $pending holds left pending;"
    text+=" sum of balances $([ "$sum_after" = "$sum_before" ] && echo unchanged || echo "changed $sum_before -> $sum_after")"
    if verify_ledger; then text+="; tally verify clean"; else text+="; tally verify NOT clean"; ok=1; fi
    add_check hold-capture "$ok" "$text"
}
