# Multi-stage build: compile the release binary, run it as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin pgsplit

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin pgsplit
COPY --from=build /src/target/release/pgsplit /usr/local/bin/pgsplit
USER pgsplit
# 6432: clients; 9930: admin HTTP (/metrics /health /ready /status). The
# admin endpoint listens on loopback unless [admin] addr says otherwise (set
# "0.0.0.0:9930" and an [admin] token to scrape it from outside).
EXPOSE 6432 9930
# Healthy while the proxy accepts clients (503 once a SIGTERM drain begins).
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD ["/usr/local/bin/pgsplit", "check"]
# SIGTERM drains: give `docker stop -t` at least [listen] shutdown_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pgsplit"]
CMD ["--config", "/etc/pgsplit/proxy.toml"]
