#!/usr/bin/env bash
# What checking the bearer token costs a transfer. The check is a lookup inside tally_move, in the same
# round trip as the transfer (the worker itself only hashes the token), so it is measured there: pgbench runs
# tally_move, and an identical copy whose token lookup is replaced by "the caller is the service role",
# alternately in short rounds on one throwaway cluster, and prints both medians and their ratio.
#
# usage: bench/token-cost.sh     (BENCH_ROUNDS=8, BENCH_ROUND_SECONDS=3)
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"

ROUNDS=${BENCH_ROUNDS:-8}
ROUND_SECONDS=${BENCH_ROUND_SECONDS:-3}
STATE=

cleanup() {
    [ -z "$STATE" ] || { pg_stop "$STATE/pg" || true; rm -rf "$STATE"; }
}

median() { sort -n | awk '{a[NR] = $1} END {print (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2}'; }

main() {
    # shellcheck disable=SC2119 # its arguments are optional needs (python, wrk, ...): the stack's own take none
    ensure_packages
    local bin conninfo token hash
    bin=$(build_release)
    STATE=$(mktemp -d /tmp/tally-token-cost.XXXXXX)
    chmod 755 "$STATE"
    trap cleanup EXIT
    pg_start "$STATE/pg"
    conninfo=$(pg_conninfo "$STATE/pg")
    "$bin" migrate --database "$conninfo" >/dev/null
    token=$("$bin" admin-token --database "$conninfo")
    hash=$(printf '%s' "$token" | sha256sum | cut -c1-64)
    pg_psql "$STATE/pg" tally <<SQL
INSERT INTO users (name, balance) SELECT 'user ' || g, 100000000 FROM generate_series(1, 10000) AS g;
INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, credit_balance_after)
    SELECT 'deposit', 0, id, balance, balance FROM users WHERE NOT is_system;
ANALYZE;
SQL
    # The copy without the lookup, made from the live definition so that it stays the same function otherwise.
    psql "$conninfo" -qAt -c "SELECT pg_get_functiondef('tally_move(bytea,bigint,text,bigint,bigint,bigint,text,text,text,text)'::regprocedure)" |
        sed "s/FUNCTION public.tally_move(/FUNCTION public.tally_move_without_token(/; s/SELECT \* INTO v_caller FROM tally_caller(p_token);/SELECT NULL::bigint AS user_id, 'service'::text AS role INTO v_caller;/" |
        perl -0pe "s/EXISTS \(SELECT FROM tally_caller\(p_token\) c\s+WHERE c\.role = 'service' OR c\.user_id IS NOT DISTINCT FROM p_acting_user\)/true/g" |
        psql "$conninfo" -q
    # Both lookups gone (the keyed path's SELECT and the usual path's EXISTS), or the comparison means nothing.
    if psql "$conninfo" -qAt -c "SELECT prosrc FROM pg_proc WHERE proname = 'tally_move_without_token'" | grep -q tally_caller; then
        echo "token-cost: the copy of tally_move still looks the token up; update the substitutions" >&2
        exit 1
    fi
    local first last variant
    read -r first last < <(psql "$conninfo" -qAt -F ' ' -c "SELECT min(id), max(id) FROM users WHERE NOT is_system")
    for variant in tally_move tally_move_without_token; do
        cat >"$STATE/$variant.sql" <<SQL
\set s random($first, $last)
\set d random($first, $((last - 1)))
SELECT * FROM $variant('\\x$hash', :s, 'transfer', :s, CASE WHEN :d >= :s THEN :d + 1 ELSE :d END, 1, NULL, NULL, NULL, 'r');
SQL
    done
    local round with=() without=()
    for ((round = 0; round < ROUNDS; round++)); do
        with+=("$(PGOPTIONS="-c default_transaction_isolation=serializable" pgbench -n -M prepared -c 2 -j 2 -T "$ROUND_SECONDS" -f "$STATE/tally_move.sql" "$conninfo" | awk '/^tps/ {print int($3)}')")
        without+=("$(PGOPTIONS="-c default_transaction_isolation=serializable" pgbench -n -M prepared -c 2 -j 2 -T "$ROUND_SECONDS" -f "$STATE/tally_move_without_token.sql" "$conninfo" | awk '/^tps/ {print int($3)}')")
    done
    local with_median without_median
    with_median=$(printf '%s\n' "${with[@]}" | median)
    without_median=$(printf '%s\n' "${without[@]}" | median)
    echo "transfers/s in PostgreSQL, median of $ROUNDS rounds of ${ROUND_SECONDS}s (2 clients):"
    echo "  with the token check:    $with_median   (rounds: ${with[*]})"
    echo "  without the token check: $without_median   (rounds: ${without[*]})"
    awk -v a="$with_median" -v b="$without_median" 'BEGIN { printf "  ratio with/without: %.3f\n", a / b }'
}

main "$@"
