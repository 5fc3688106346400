# syntax=docker/dockerfile:1
#
# Parley's container image: one static binary on a minimal base image,
# running as a non-root user, with its data directory in the /data volume.
#
#   docker build -t parley .
#   docker run -d -p 127.0.0.1:8080:8080 -v parley-data:/data parley
#
# Configure it with PARLEY_* variables (every flag has one; see README.md)
# and put a TLS-terminating proxy in front, or give it --tls-cert/--tls-key.
# deploy/compose.yaml runs it behind Caddy. The first start prints the
# first agent's one-time password: docker logs <container>.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/parley . \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot AS run
COPY --from=build /out/parley /usr/local/bin/parley
# The volume's mount point, owned by the image's non-root user, so that a
# new named volume starts with that owner.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV PARLEY_DATA=/data \
    PARLEY_LISTEN=0.0.0.0:8080 \
    PARLEY_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# A static image has no curl: the binary asks its own /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/parley", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["serve"]
