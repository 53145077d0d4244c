# Multi-stage build of halo-sync on Debian bookworm. The runtime image holds
# the five production binaries and the migrations; halo-sim lives only in the
# separate "sim" target (the "tls" profile's proxy is docker/proxy.Dockerfile). No secret is
# baked in: configuration is environment, secrets are files (docs/operations.md).
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      gcc libc6-dev make cmake pkg-config libzmq3-dev libmsgpack-dev libcurl4-openssl-dev \
      libpq-dev libcmocka-dev libmicrohttpd-dev libjansson-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the six programs, stripped: the tests are not built here.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHALO_WERROR=ON \
    && cmake --build /build -j"$(nproc)" --target halo-ingest halo-fetcher halo-store halo-monitor haloctl halo-sim \
    && strip /build/bin/*

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends \
      libzmq5 libmsgpackc2 libcurl4 libpq5 libmicrohttpd12 libjansson4 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/halo --create-home halo \
    && mkdir -p /var/lib/halo/journal \
    && chown halo:halo /var/lib/halo/journal \
    && chmod 0700 /var/lib/halo/journal
COPY --from=build /build/bin/halo-ingest /build/bin/halo-fetcher /build/bin/halo-store \
                  /build/bin/halo-monitor /build/bin/haloctl /usr/local/bin/
COPY db/migrations /usr/share/halo-sync/migrations
# The journal directory exists in the image, owned by the runtime user: a new
# named volume mounted there copies it (owner and mode included).
ENV HALO_MIGRATIONS_DIR=/usr/share/halo-sync/migrations \
    HALO_INGEST_JOURNAL_DIR=/var/lib/halo/journal \
    HALO_HEALTH_FILE=/tmp/halo-health
USER halo
WORKDIR /var/lib/halo

FROM runtime AS sim
USER root
COPY --from=build /build/bin/halo-sim /usr/local/bin/
USER halo

