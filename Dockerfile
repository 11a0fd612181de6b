# syntax=docker/dockerfile:1
# fraudhub: multi-stage build. The builder compiles the release binary from the locked
# dependency set; the runtime image holds only the binary, CA certificates and curl (for
# the health check), and runs as an unprivileged user.

FROM rust:1.95-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# sqlx::migrate! embeds the migrations at compile time.
COPY migrations ./migrations
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
    && install -m 0755 target/release/fraudhub /usr/local/bin/fraudhub

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fraudhub \
    && useradd --system --uid 10001 --gid fraudhub --home-dir /var/lib/fraudhub --shell /usr/sbin/nologin fraudhub \
    && install -d -o fraudhub -g fraudhub -m 0700 /var/lib/fraudhub
COPY --from=builder /usr/local/bin/fraudhub /usr/local/bin/fraudhub
USER fraudhub:fraudhub
WORKDIR /var/lib/fraudhub
# Listen on all interfaces inside the container; publish the port on 127.0.0.1 or behind
# a TLS-terminating proxy. The data directory only matters for the embedded SQLite mode.
ENV FRAUDHUB_LISTEN=0.0.0.0:8080 \
    FRAUDHUB_DATA_DIR=/var/lib/fraudhub
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["fraudhub"]
CMD ["serve"]
