#!/bin/sh
# The Tally image's entrypoint (Dockerfile), for its two services in docker-compose.yml:
#
#   setup   the one-shot `migrate` service, connected as the database's owner (TALLY_DATABASE and PGPASSWORD
#           name POSTGRES_USER): applies the migrations, sets the password of the pool's role tally_pool from
#           TALLY_POOL_PASSWORD (`tally migrate` sends it as a SCRAM verifier and never prints it), makes the
#           service role's token on first start and prints it, then exits.
#   (none)  the pool, `tally serve`, connected as tally_pool: it runs no migration and never sees the owner's
#           password. Arguments are passed on to serve (`docker compose run tally --max-requests 1000`, say).
#
# The token is kept in $TALLY_STATE_DIR/admin-token (mode 0600, a volume of its own) and made anew when that
# file is missing or when this start created the schema from nothing (a new database: an old token would not
# be in it). It is printed once, when made: `docker compose logs migrate` shows it;
# `docker compose run --rm --entrypoint cat migrate /var/lib/tally/admin-token` at any time after.
set -eu

state=${TALLY_STATE_DIR:-/var/lib/tally}
token_file=$state/admin-token

# A first argument that is a command of its own (`verify`, `admin-token`, `help`, ...) runs just that.
case "${1:-}" in
    serve | worker | migrate | verify | admin-token | help) exec tally "$@" ;;
    setup) ;;
    *) exec tally serve "$@" ;;
esac

if [ -z "${TALLY_POOL_PASSWORD:-}" ]; then
    echo "tally-entrypoint setup: TALLY_POOL_PASSWORD is not set: the pool could not log in" >&2
    exit 1
fi
migrated=$(tally migrate)
printf '%s\n' "$migrated"

new_database=no
case "$migrated" in
    *"applied migration 1:"*) new_database=yes ;;
esac

if [ "$new_database" = yes ] || [ ! -s "$token_file" ]; then
    token=$(tally admin-token)
    (umask 077 && printf '%s\n' "$token" >"$token_file.new" && mv "$token_file.new" "$token_file")
    echo "Admin token (service role; kept in $token_file): $token"
else
    echo "The admin token made at first start is kept in $token_file:" \
        "docker compose run --rm --entrypoint cat migrate $token_file" \
        "(or make another: docker compose run --rm migrate admin-token)"
fi
