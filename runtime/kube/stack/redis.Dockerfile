# Redis for the air-gapped cluster: Debian bookworm's redis-server, the version the local
# stack runs (7.0.15). The chart passes the AOF flags and the data dir as args.
ARG BASE=snacktopus/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && redis-server --version
USER 10001:10001
EXPOSE 6379
# With no password and no bind address, Debian's redis-server refuses every client that is
# not on loopback ("protected mode"): the pods reach it through its Service, as they do the
# official image, which ships with protected mode off.
ENTRYPOINT ["redis-server", "--protected-mode", "no"]
