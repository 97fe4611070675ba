# syntax=docker/dockerfile:1
# toolgate's container image: built in a Rust stage, run from distroless (no shell, no
# package manager; glibc, CA certificates and the `nonroot` user, uid 65532).
#
#   docker build -t toolgate:0.1.0 .
#   docker run --rm -p 8080:8080 --read-only --tmpfs /tmp \
#     -v "$PWD/my-config:/etc/toolgate:ro" toolgate:0.1.0
#
# The image writes nothing outside /tmp, so it runs with a read-only root filesystem. It
# expects its configuration at /etc/toolgate/config.yaml (mount a folder there: in
# Kubernetes the ConfigMap of deploy/kubernetes/). No HEALTHCHECK: orchestrators probe
# /healthz and /readyz themselves. See docs/kubernetes.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Built from the lock file as checked in (`--locked`), without symbols. The cache mounts keep
# the crate downloads and the build between builds (BuildKit).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p toolgate --bin toolgate \
    && install -D -m 0755 target/release/toolgate /out/toolgate

# Debian 12 (glibc 2.36), the same release the build stage compiles against.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="toolgate" \
      org.opencontainers.image.description="MCP gateway: OpenAPI services and MCP servers as one secure MCP endpoint"
COPY --from=build /out/toolgate /usr/local/bin/toolgate
# Numeric, so Kubernetes' runAsNonRoot can check it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/toolgate"]
CMD ["serve", "--config", "/etc/toolgate/config.yaml"]
