#!/bin/sh
# The pool container's entrypoint (Dockerfile): applies the migrations, makes the service role's token on
# first start and prints it, then becomes `tally serve`. Every setting comes from the environment
# (TALLY_DATABASE, PGPASSWORD, TALLY_SOCKET, TALLY_WORKERS, ...: see docker-compose.yml and .env.example).
#
# The token is kept in $TALLY_STATE_DIR/admin-token (mode 0600, a volume of its own) and made anew when that
# file is missing or when this start created the schema from nothing (a new database: an old token would not
# be in it). It is printed once, when made: `docker compose logs tally` shows it;
# `docker compose exec tally cat /var/lib/tally/admin-token` at any time after.
set -eu

state=${TALLY_STATE_DIR:-/var/lib/tally}
token_file=$state/admin-token

# Arguments are passed on to serve (`docker compose run tally --max-requests 1000`, say); a first argument
# that is a command of its own (`verify`, `admin-token`, `help`, ...) runs just that.
case "${1:-}" in
    serve | worker | migrate | verify | admin-token | help) exec tally "$@" ;;
esac

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
        "docker compose exec tally cat $token_file (or make another: docker compose exec tally tally admin-token)"
fi

exec tally serve "$@"
