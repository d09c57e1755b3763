# shellcheck shell=bash
# Load and figures for bench/bench.sh: wrk against Tally, the ceiling beside it, the pool's /api/status.
# Sourced by bench.sh; uses its globals (BASE_URL, TOKEN, USERS, FIRST_USER or USER_IDS, STATE, BENCH_DIR,
# CEILING_PGENV).
# Globals cross the benchmark's files, which shellcheck reads one at a time: this file sets some that bench.sh
# and the other bench/lib files read (SC2034) and reads some that bench.sh sets (SC2153).
# shellcheck disable=SC2034,SC2153

# Milliseconds from one of wrk's latency figures (850.00us, 1.20ms, 1.02s).
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }

# The wrk environment every script in bench/lua reads (env.lua).
wrk_env() { env BENCH_TOKEN="$TOKEN" BENCH_USERS="$USERS" BENCH_FIRST_USER="$FIRST_USER" BENCH_USER_IDS="$USER_IDS" "$@"; }

# run_wrk NAME CONNECTIONS SECONDS SCRIPT [VAR=VALUE...]: runs bench/lua/SCRIPT against BASE_URL with the
# VARs in its environment, keeps wrk's output in STATE/wrk-NAME.txt and sets the figures of wrk_figures.
run_wrk() {
    local name=$1 conns=$2 secs=$3 script=$4
    shift 4
    local threads=2
    [ "$conns" -ge 2 ] || threads=1 # wrk wants at least one connection per thread
    wrk_env "$@" wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s --latency \
        -s "$BENCH_DIR/lua/$script" "$BASE_URL/" >"$STATE/wrk-$name.txt"
    wrk_figures "$name"
}

# wrk_figures NAME: reads STATE/wrk-NAME.txt (run_wrk's, or a load run in the background) and sets
#   WRK_RPS WRK_P50 WRK_P99 (ms) WRK_NON2XX WRK_TOTAL   from wrk's summary (WRK_RPS_EXACT: requests/s unrounded)
#   WRK_OK WRK_201 WRK_503                              from the per-status counts of bench/lua/statuses.lua
#                                                       (with BENCH_STATUSES=summary only WRK_OK: the others 0)
wrk_figures() {
    local name=$1 out
    out=$(cat "$STATE/wrk-$name.txt")
    WRK_RPS_EXACT=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    WRK_RPS=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    WRK_P50=$(ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    WRK_P99=$(ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    WRK_NON2XX=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    WRK_NON2XX=${WRK_NON2XX:-0}
    WRK_TOTAL=$(awk '/requests in/ {print $1}' <<<"$out")
    local statuses
    statuses=$(grep '^statuses' <<<"$out" || true)
    WRK_201=$(status_count 201 "$statuses")
    WRK_503=$(status_count 503 "$statuses")
    WRK_OK=$(awk '{ n = 0; for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] ~ /^2/) n += kv[2] } print n }' <<<"$statuses")
    local errors
    errors=$(grep 'Socket errors' <<<"$out" || true)
    [ -z "$errors" ] || log "$name: wrk: $errors"
    log "$name: $WRK_RPS/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms, $statuses"
}

# status_count CODE "statuses 201=N ...": N, or 0.
status_count() { awk -v code="$1" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == code) n = kv[2] } } END { print n + 0 }' <<<"$2"; }

# run_ceiling MODE CONNECTIONS WORKERS SECONDS: ../shared/ceiling/run.sh (MODE uniform, hot or noop; or
# uniform:N or hot:N, its batch mode: N transfers a request) against our cluster; sets CEIL_RPS CEIL_P50
# CEIL_P99 CEIL_NON2XX. In the batch mode CEIL_RPS is transfers/s (the ceiling's requests/s times N; p50 and
# p99 are a request's). The ceiling's cluster is the one CEILING_PGENV names in libpq's environment variables:
# the single-node one, or the HA cluster while the ha scenario runs (bench/lib/ha.sh).
run_ceiling() {
    local mode=$1 conns=$2 workers=$3 secs=$4 flag=() line batch=
    if [[ $mode == *:* ]]; then
        batch=${mode#*:} mode=${mode%%:*}
        flag=(--batch "$batch")
    fi
    case "$mode" in
        hot) flag+=(--hot) ;;
        noop) flag+=(--noop) ;;
    esac
    line=$(env "${CEILING_PGENV[@]}" "$CEILING" -c "$conns" -d "$secs" -w "$workers" "${flag[@]}")
    log "$line"
    local rate=requests_per_s
    [ -z "$batch" ] || rate=transfers_per_s
    read -r CEIL_RPS CEIL_P50 CEIL_P99 CEIL_NON2XX < <(awk -v rate="$rate" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v[rate], v["p50_ms"], v["p99_ms"], v["non2xx"] }' <<<"$line")
    [ -n "$CEIL_RPS" ] || CEIL_RPS=-
}

# One field of the pool's GET /api/status (nginx answers it to this host only); empty when unreachable,
# as for a Tally on another host.
status_field() {
    curl -s --max-time 5 "$BASE_URL/api/status" | grep -o "\"$1\":[0-9]*" | cut -d: -f2 || true
}

# retries_per_thousand RETRIES_BEFORE SUCCESSES: serialization retries since RETRIES_BEFORE per 1,000
# successful requests, or "-" without /api/status.
retries_per_thousand() {
    local before=$1 ok=$2 now
    now=$(status_field serialization_retries)
    if [ -z "$before" ] || [ -z "$now" ]; then
        echo -
        return
    fi
    awk -v r="$((now - before))" -v n="$ok" 'BEGIN { if (n > 0) printf "%.1f", 1000 * r / n; else print "-" }'
}

# ratio A B: A / B to two decimals, "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && a != "" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# at_least A B: true when number A >= B.
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && a + 0 >= b + 0) }'; }

# median VALUES...: the middle value (the lower of the two middle ones), or "-" when any is "-".
median() {
    case " $* " in *" - "* | "  ") echo -; return ;; esac
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# in_rounds CEILING_MODE CONNECTIONS TALLY_COMMAND...: ROUNDS rounds of Tally's load (TALLY_COMMAND, run with
# SECS set to ROUND_SECS; it sets WRK_* and, for transfers, T_RETRIES) and then the ceiling's (run_ceiling
# CEILING_MODE), alternating, so that the machine's drift between loads (its other tenants above all, which
# moved single 10 s ratios by 0.1 here) falls on both sides alike. Leaves WRK_* and CEIL_* over all the rounds:
# rates their mean (the rounds are equally long), p50 and p99 the rounds' median, non-2xx, 503s and 2xx summed,
# T_RETRIES per 1,000 of all the 2xx.
in_rounds() {
    local ceiling_mode=$1 conns=$2
    shift 2
    local round saved_secs=$SECS
    local rps=() p50=() p99=() non2xx=0 w503=0 ok=0 retried=0 c_rps=() c_p50=() c_p99=() c_non2xx=0
    for ((round = 1; round <= ROUNDS; round++)); do
        SECS=$ROUND_SECS
        "$@"
        SECS=$saved_secs
        rps+=("$WRK_RPS") p50+=("$WRK_P50") p99+=("$WRK_P99")
        non2xx=$((non2xx + WRK_NON2XX)) w503=$((w503 + WRK_503)) ok=$((ok + WRK_OK))
        [ "${T_RETRIES:--}" = - ] || retried=$(awk -v a="$retried" -v r="$T_RETRIES" -v n="$WRK_OK" 'BEGIN { print a + r * n / 1000 }')
        run_ceiling "$ceiling_mode" "$conns" "$WORKERS" "$ROUND_SECS"
        c_rps+=("$CEIL_RPS") c_p50+=("$CEIL_P50") c_p99+=("$CEIL_P99")
        c_non2xx=$((c_non2xx + CEIL_NON2XX))
    done
    WRK_RPS=$(printf '%s\n' "${rps[@]}" | awk '{ s += $1 } END { printf "%d", s / NR }')
    WRK_P50=$(median "${p50[@]}") WRK_P99=$(median "${p99[@]}")
    WRK_NON2XX=$non2xx WRK_503=$w503 WRK_OK=$ok
    [ "${T_RETRIES:--}" = - ] || T_RETRIES=$(awk -v r="$retried" -v n="$ok" 'BEGIN { if (n > 0) printf "%.1f", 1000 * r / n; else print "-" }')
    CEIL_RPS=$(printf '%s\n' "${c_rps[@]}" | awk '{ s += $1 } END { printf "%d", s / NR }')
    CEIL_P50=$(median "${c_p50[@]}") CEIL_P99=$(median "${c_p99[@]}") CEIL_NON2XX=$c_non2xx
    log "rounds: Tally ${rps[*]}/s, the ceiling ${c_rps[*]}/s"
}
