#!/usr/bin/env bash
# `make lint`, and the first suite of `make test`: the house style, checked without changing anything.
#   - swift-format (.swift-format: 4 spaces, 120 columns) over Sources, Tests and tests/fuzz, warnings as errors;
#     `make format` rewrites what it reports.
#   - shellcheck (Debian's package; settings in .shellcheckrc) over the shell scripts in scripts/ and bench/ and
#     .ci/run. What it reports is fixed by hand; a `# shellcheck disable=SCxxxx` only with the reason beside it.
# Both run whatever the first finds; exits non-zero when either finds anything.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SWIFT_PATHS=(Sources Tests tests/fuzz)

# The shell scripts, relative to the repository: every *.sh under scripts/ and bench/, and the CI entry point.
shell_scripts() {
    find scripts bench -type f -name '*.sh' | sort
    echo .ci/run
}

main() {
    ensure_packages shellcheck
    cd "$TALLY_ROOT"
    local swift_status=0 shell_status=0 scripts swift_files
    swift_files=$(find "${SWIFT_PATHS[@]}" -type f -name '*.swift' | wc -l)
    log "== swift format lint --strict over ${SWIFT_PATHS[*]} ($swift_files files)"
    swift format lint --strict --recursive "${SWIFT_PATHS[@]}" || swift_status=$?
    mapfile -t scripts < <(shell_scripts)
    log "== shellcheck over scripts/, bench/ and .ci/run (${#scripts[@]} scripts)"
    shellcheck "${scripts[@]}" || shell_status=$?
    if [ "$swift_status" -ne 0 ]; then
        log "error: swift-format found lines out of style (above); \`make format\` rewrites them"
    fi
    if [ "$shell_status" -ne 0 ]; then
        log "error: shellcheck found problems in the shell scripts (above)"
    fi
    [ "$swift_status" -eq 0 ] && [ "$shell_status" -eq 0 ] &&
        log "== lint: clean ($swift_files Swift files, ${#scripts[@]} shell scripts)"
}

main "$@"
