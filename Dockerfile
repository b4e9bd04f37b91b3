# syntax=docker/dockerfile:1
#
# Static musl binaries in an image of their own: no shell, no libc, no package manager.
#
#   docker build -t ssh-mcp .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ssh-mcp .
#
# The build stage runs on the build machine's own platform and cross-compiles for each
# target platform (tonistiigi/xx provides the target's linker and C compiler for ring), so
# an arm64 image does not need an emulated compiler.
# The default command, `ssh-mcp`, listens on 0.0.0.0:8000 and therefore refuses to start
# without a bearer token (SSH_MCP_TOKEN or SSH_MCP_TOKEN_FILE). `ssh-mcp-stdio` runs with
# `docker run -i --entrypoint ssh-mcp-stdio`. See the README's Docker section.

ARG RUST_VERSION=1.95
ARG XX_VERSION=1.6.1

FROM --platform=$BUILDPLATFORM tonistiigi/xx:${XX_VERSION} AS xx

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-alpine AS build
COPY --from=xx / /
RUN apk add --no-cache clang lld musl-dev
ARG TARGETPLATFORM
RUN xx-apk add --no-cache musl-dev
WORKDIR /src
# Dependencies in a layer of their own, so that a source change does not fetch them again
# (the manifest names the benchmark, so cargo wants to see it).
COPY Cargo.toml Cargo.lock ./
COPY benches benches
RUN cargo fetch --locked
COPY src src
# musl targets link statically by default; xx-verify fails the build should that change.
RUN xx-cargo build --release --locked --bins \
    && mkdir -p /out/usr/local/bin \
    && for bin in ssh-mcp ssh-mcp-stdio; do \
         cp "target/$(xx-cargo --print-target-triple)/release/$bin" /out/usr/local/bin/ \
         && xx-verify --static "/out/usr/local/bin/$bin" || exit 1; \
       done
COPY scripts/image-rootfs /tmp/
RUN sh /tmp/image-rootfs /out

FROM scratch
LABEL org.opencontainers.image.title="ssh-mcp" \
      org.opencontainers.image.description="MCP server that gives LLM agents SSH" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/etc /etc
COPY --from=build --chown=10001:10001 /out/home/ssh-mcp /home/ssh-mcp
COPY --from=build /out/usr /usr
USER 10001:10001
ENV PATH=/usr/local/bin \
    HOME=/home/ssh-mcp \
    MCP_HOST=0.0.0.0 \
    MCP_PORT=8000
EXPOSE 8000
CMD ["ssh-mcp"]
