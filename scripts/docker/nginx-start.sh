#!/bin/sh
# nginx's command in docker-compose.yml (the official nginx image, Debian-based): renders the project's own
# nginx/tally.conf.template, the file `make run` and `make test` use, so the two setups cannot drift, and
# runs nginx in the foreground. `make test` (scripts/check-deploy.sh) runs this same script with --check and
# local paths: it renders the template the same way and runs `nginx -t` on the result.
#
# The template's placeholders are filled as scripts/lib.sh (nginx_render) fills them, but for a container:
#   127.0.0.1:@PORT@  -> NGINX_LISTEN (8080: every address of the container, so that the published port
#                        reaches it; the compose file decides which host address publishes it)
#   @SOCKET@          -> TALLY_SOCKET, the pool's socket in the volume shared with the pool container
#   @BATCH_SOCKET@    -> TALLY_BATCH_SOCKET, its batch lane's socket in the same volume (TALLY_SOCKET when
#                        TALLY_BATCH_WORKERS is 0: the pool then runs no batch lane)
#   @WWW_ROOT@        -> TALLY_WWW_ROOT, www/ mounted read-only
#   @STATE@           -> TALLY_NGINX_STATE, nginx's pid and temp files; its two log files there are links
#                        to stdout (the JSON access log) and stderr, which `docker compose logs nginx` shows.
# Workers run as the template says (www-data, gid 33 in Debian's images): the pool's socket is group www-data.
#
# usage: nginx-start.sh [--check]
set -eu

template=${TALLY_NGINX_TEMPLATE:-/etc/tally/tally.conf.template}
listen=${NGINX_LISTEN:-8080}
socket=${TALLY_SOCKET:-/run/tally/tally.sock}
batch_socket=${TALLY_BATCH_SOCKET:-/run/tally/tally-batches.sock}
[ "${TALLY_BATCH_WORKERS:-}" != 0 ] || batch_socket=$socket
www=${TALLY_WWW_ROOT:-/usr/share/tally/www}
state=${TALLY_NGINX_STATE:-/var/lib/tally-nginx}
conf=$state/nginx/nginx.conf

mkdir -p "$state/nginx/tmp" "$state/log" "$state/run"
ln -sf /dev/stdout "$state/log/nginx-access.log"
ln -sf /dev/stderr "$state/log/nginx-error.log"
# The template listens on 127.0.0.1 (make run serves this machine only); here the whole "127.0.0.1:@PORT@"
# is the listen address.
grep -q 'listen 127\.0\.0\.1:@PORT@;' "$template" || {
    echo "nginx-start.sh: $template no longer has 'listen 127.0.0.1:@PORT@;': update this script" >&2
    exit 1
}
sed -e "s|127\.0\.0\.1:@PORT@|$listen|g" -e "s|@SOCKET@|$socket|g" -e "s|@BATCH_SOCKET@|$batch_socket|g" \
    -e "s|@WWW_ROOT@|$www|g" \
    -e "s|@STATE@|$state|g" "$template" >"$conf"
if grep -n '^[^#]*@[A-Z_][A-Z_]*@' "$conf" >&2; then
    echo "nginx-start.sh: the placeholders above are left in $conf: fill them here as scripts/lib.sh does" >&2
    exit 1
fi

if [ "${1:-}" = --check ]; then
    exec nginx -t -q -c "$conf" -e /dev/stderr
fi
exec nginx -c "$conf" -e /dev/stderr -g 'daemon off;'
