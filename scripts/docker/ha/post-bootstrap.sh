#!/bin/sh
# Patroni's post_bootstrap (scripts/docker/ha/patroni.yml), run once, on the node that makes the cluster, as
# Patroni's superuser (POSTGRES_USER): creates the database POSTGRES_DB, as the postgres image does for
# docker-compose.yml. The migrate service then applies the migrations in it.
# usage: post-bootstrap.sh CONNINFO   (Patroni passes the conninfo; the password is in its PGPASSFILE)
set -eu
db=${POSTGRES_DB:-tally}
psql -X -q -v ON_ERROR_STOP=1 -v db="$db" "$1" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
