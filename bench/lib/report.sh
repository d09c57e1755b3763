# shellcheck shell=bash
# The report of bench/bench.sh: one table row per measured load, the checks made after them, and the blocks
# (scaling, memory, purge) that do not fit a row. Sourced by bench.sh.
# Globals cross the benchmark's files, which shellcheck reads one at a time: this file sets some that bench.sh
# and the other bench/lib files read (SC2034).
# shellcheck disable=SC2034

ROWS=()      # tab-separated: scenario, Tally/s, ceiling/s, ratio, p50, p99, retries/1k, non-2xx, target
CHECKS=()    # "scenario: what was checked: ok|FAILED"
BLOCKS=()    # multi-line text
FAILED_CHECKS=0
MISSED_TARGETS=0

# add_row SCENARIO T_RPS C_RPS T_P50 C_P50 T_P99 C_P99 RETRIES T_NON2XX C_NON2XX TARGET
# (C_* "-" when nothing is beside it; TARGET the verdict text from verdict(), or "-").
add_row() {
    local name=$1 t_rps=$2 c_rps=$3 t_p50=$4 c_p50=$5 t_p99=$6 c_p99=$7 retries=$8 t_non=$9 c_non=${10} target=${11}
    local row
    row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$name" "$t_rps" "$c_rps" "$(ratio "$t_rps" "$c_rps")" \
        "$(pair "$t_p50" "$c_p50")" "$(pair "$t_p99" "$c_p99")" "$retries" "$(pair "$t_non" "$c_non")" "$target")
    ROWS+=("$row")
}

# "a / b", or "a" alone when b is "-"; milliseconds to one decimal.
pair() {
    local a b
    a=$(one_decimal "$1")
    b=$(one_decimal "$2")
    if [ "$b" = - ]; then printf '%s' "$a"; else printf '%s / %s' "$a" "$b"; fi
}
one_decimal() { if [[ "$1" == *.* ]]; then printf '%.1f' "$1"; else printf '%s' "$1"; fi; }

# verdict MET? TEXT: sets VERDICT to "met: TEXT" or "NOT met: TEXT", counting the misses. MET? is 0 (met) or 1.
# (A variable, not output: a command substitution would lose the count.)
verdict() {
    if [ "$1" -eq 0 ]; then
        VERDICT="met: $2"
    else
        MISSED_TARGETS=$((MISSED_TARGETS + 1))
        VERDICT="NOT met: $2"
    fi
}

# add_check SCENARIO OK? TEXT (OK? 0 or 1).
add_check() {
    if [ "$2" -eq 0 ]; then
        CHECKS+=("$1: $3: ok")
    else
        CHECKS+=("$1: $3: FAILED")
        FAILED_CHECKS=$((FAILED_CHECKS + 1))
    fi
}

add_block() { BLOCKS+=("$1"); }

print_table() {
    local format='%-18s %8s %9s %6s %13s %13s %10s %8s  %s\n' row
    # shellcheck disable=SC2059
    printf "$format" scenario Tally/s ceiling/s ratio "p50 ms (T / c)" "p99 ms (T / c)" retries/1k "non-2xx" target
    for row in "${ROWS[@]}"; do
        local fields
        IFS=$'\t' read -r -a fields <<<"$row"
        # shellcheck disable=SC2059
        printf "$format" "${fields[@]}"
    done
}

# print_report HEADER: the whole report, as written to var/bench-results.txt.
print_report() {
    echo "$1"
    echo
    print_table
    if [ ${#CHECKS[@]} -gt 0 ]; then
        echo
        echo "Checks after the loads:"
        printf '  %s\n' "${CHECKS[@]}"
    fi
    local block
    for block in "${BLOCKS[@]}"; do
        echo
        printf '%s\n' "$block"
    done
    echo
    echo "Targets missed: $MISSED_TARGETS; checks failed: $FAILED_CHECKS."
}
