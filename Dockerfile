# syntax=docker/dockerfile:1
#
# shopstream: one image for every role. The subcommand is the container's
# argument: `docker run shopstream serve|process|sink|topics|migrate|replay`.
#
#   docker build -t shopstream .
#
# Stage 1 builds a static binary; stage 2 is a small Alpine runtime (BusyBox
# wget is there for the compose healthchecks against the admin listener) that
# runs as an unprivileged user with a numeric UID, so Kubernetes'
# runAsNonRoot can verify it.

FROM golang:1.26 AS build
WORKDIR /src
# go.mod asks for a newer 1.26 patch than the image may have: let the go
# command fetch that toolchain instead of failing (the image says "local").
ENV GOTOOLCHAIN=auto
# Dependencies first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /shopstream ./cmd/shopstream

FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 shopstream \
 && adduser -S -D -H -u 10001 -G shopstream -h /data shopstream \
 && mkdir -p /data \
 && chown shopstream:shopstream /data
COPY --from=build /shopstream /usr/local/bin/shopstream
# `shopstream dev` keeps its files under ./var: /data/var, owned by the user.
WORKDIR /data
USER 10001:10001
# 8080: webhooks (SHOPSTREAM_HTTP_ADDR); 9102: /healthz /readyz /metrics
# (SHOPSTREAM_ADMIN_ADDR).
EXPOSE 8080 9102
ENTRYPOINT ["shopstream"]
CMD ["serve"]
