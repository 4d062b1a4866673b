# syntax=docker/dockerfile:1
# qrlogin: a static binary built with the Go toolchain, run as an
# unprivileged user on debian-slim. debian-slim rather than distroless
# because the container health check needs an HTTP client (curl) and
# qrlogin has no health-check subcommand of its own.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/qrlogin ./cmd/qrlogin

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin qrlogin
COPY --from=build /out/qrlogin /usr/local/bin/qrlogin
USER 10001:10001
# Public listener; the admin listener (8081) is published by compose to
# the host's loopback only.
EXPOSE 8080 8081
# /ready, not /healthz: 503 while PostgreSQL is unreachable and during a
# drain (SIGTERM), so an orchestrator takes the container out of rotation.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl --fail --silent --show-error --max-time 2 http://127.0.0.1:8080/ready >/dev/null || exit 1
# SIGTERM drains (README "Graceful drain"): give it --shutdown-delay +
# --shutdown-grace, e.g. docker stop --time 30 (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["qrlogin"]
CMD ["serve"]
