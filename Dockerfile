# syntax=docker/dockerfile:1
# The perimeter operator image: built with cargo on Debian 12, run on distroless cc-debian12
# (glibc + libgcc, no shell, no package manager) as the non-root user 65532.
#   docker build -t perimeter:dev .
#   docker run --rm perimeter:dev --help
# TLS is rustls on ring (no OpenSSL); distroless cc-debian12 ships the CA bundle
# (/etc/ssl/certs) for the clients that use the system roots.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The whole workspace (cargo resolves every member, emulators/ included). .dockerignore keeps
# target/, tests/, node_modules/, .venv/ and .git/ out of the context.
COPY . .
# Without default features: no `demo`, so neither the provider emulators nor the demo's
# manifests and accounts are in the image (scripts/check-image-binary builds with this same
# command and checks the binary). Cache mounts keep the registry and target/ between builds;
# the binary is copied out of the cached target/ so the next stage can see it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin perimeter \
    && install -D -m 0755 target/release/perimeter /out/perimeter

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="perimeter" \
      org.opencontainers.image.description="Provider firewalls and network monitoring, declared, checked and enforced" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/perimeter /usr/local/bin/perimeter
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/perimeter"]
CMD ["operator"]
