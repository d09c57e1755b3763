# Tally's FastCGI pool (`tally serve`) as an image: built with the official Swift image, run on a slim Debian
# with only the shared libraries the binary links. docker-compose.yml runs it beside PostgreSQL and nginx.
#
# `make test` checks this file without Docker (scripts/check-deploy.sh): the Swift version below is the one
# the tests build with, the build stage runs scripts/docker/build.sh exactly as the test does, and every
# library `ldd` lists for that binary comes from the staged Swift libraries, RUNTIME_PACKAGES or the base image.

# --- build ---------------------------------------------------------------------------------------------------
FROM swift:6.3.1-bookworm AS build

# The -dev packages Package.swift's system-library targets name (pkg-config finds them).
ARG BUILD_PACKAGES="libfcgi-dev libpq-dev libargon2-dev libssl-dev libcurl4-openssl-dev pkg-config"
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends $BUILD_PACKAGES \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the build reads (.dockerignore keeps .build/, var/ and the rest out of the context).
# Tests/ too: SwiftPM wants every target the manifest names to exist, even for `swift build`.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts/docker/build.sh ./scripts/docker/build.sh
RUN scripts/docker/build.sh /staging

# --- runtime -------------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# The packages of the shared libraries tally links beyond the base image: libfcgi, libpq (with its own
# dependencies: OpenSSL, Kerberos, LDAP), libargon2, libcurl (OpenSSL flavour: `tally import` and `tally export`).
# Nothing else.
ARG RUNTIME_PACKAGES="libfcgi0ldbl libpq5 libargon2-1 libcurl4"
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends $RUNTIME_PACKAGES \
    && rm -rf /var/lib/apt/lists/*

# The pool runs as tally (uid 10001). Its FastCGI socket is group www-data (gid 33, the same in Debian's
# nginx image, whose workers run as www-data with the project's nginx config): tally must be a member to
# give the socket that group. The socket's folder is shared with nginx through a named volume, which takes
# this owner and mode from the image when it is first created; /var/lib/tally keeps the admin token.
RUN useradd --system --uid 10001 --user-group --groups www-data --home-dir /var/lib/tally --shell /usr/sbin/nologin tally \
    && install -d -o tally -g www-data -m 0750 /run/tally \
    && install -d -o tally -g tally -m 0700 /var/lib/tally

COPY --from=build /staging/ /
COPY scripts/docker/tally-entrypoint.sh /usr/local/bin/tally-entrypoint
# The mode is set here because COPY keeps the checkout's (0700 under umask 077, which tally could not run).
# The build fails if a library is missing (scripts/check-deploy.sh checks the same in `make test`).
RUN chmod 0755 /usr/local/bin/tally-entrypoint \
    && ! ldd /usr/local/bin/tally | grep -F 'not found' \
    && tally help >/dev/null

USER tally
WORKDIR /var/lib/tally
ENV TALLY_SOCKET=/run/tally/tally.sock \
    TALLY_SOCKET_GROUP=www-data \
    TALLY_SOCKET_MODE=0660
# `setup` (compose's migrate service, as the database's owner): migrates, sets tally_pool's password, makes the
# admin token on first start. Otherwise execs `tally serve` (PID 1: SIGTERM lets workers finish their requests),
# connected as tally_pool.
ENTRYPOINT ["tally-entrypoint"]
