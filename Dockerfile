# syntax=docker/dockerfile:1
#
# imds-labeler image: the esbuild bundle (dist/imds-labeler.mjs) on a distroless Node.js 24
# runtime. The final image has node and the bundle: no npm, no shell, no package manager, no
# node_modules. It runs as uid/gid 65532 and needs no writable path, so it works with
# readOnlyRootFilesystem. The one RUN of the runtime stage is the runtime's own node filling the
# compile cache (below); it needs no shell. Build: docker build -t imds-labeler .
# Release builds pin both base images by digest (--build-arg BUILD_IMAGE=...@sha256:...).

ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---- build: install the locked dependencies and bundle the agent into one file.
# The bundle is plain JavaScript, so it is built once on the builder's platform for every target.
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="imds-labeler" \
      org.opencontainers.image.description="Labels Kubernetes nodes on Azure VMs from the Azure Instance Metadata Service" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
# Owned by root: the agent (uid 65532) can read the bundle but not change it.
COPY --from=build --chown=0:0 /src/dist/ /app/
# V8 sized for a small, mostly idle agent (target under 64 MiB RSS, container limit 128 MiB;
# docs/performance.md has the measurements behind each flag):
# --jitless runs JavaScript in V8's interpreter only. The agent does a few milliseconds of work
#   per poll; the JIT tiers would add 10+ MiB of compiled code and compiler memory for nothing.
#   It also turns off WebAssembly, which only undici needs here, and undici is only used for a
#   kubeconfig with a proxy-url: remove --jitless (extraEnv NODE_OPTIONS) to use one.
# --max-semi-space-size=1 caps each young-generation semi-space at 1 MiB instead of 16 MiB;
#   the agent allocates little between polls, so scavenges stay cheap while RSS drops.
# --max-old-space-size=16 keeps the old generation tight. The agent lives in about 10 MiB of
#   heap; with more room V8 lets garbage pile up to the cap between full collections, which is
#   where most of a long run's peak RSS came from (docs/performance.md). 16 still parses the
#   largest IMDS answer the agent accepts (imds.maxResponseBytes, 1 MiB; tested in
#   test/e2e/bundle.test.ts); 12 does not.
# Raise both with the chart's extraEnv (NODE_OPTIONS) when raising resources.limits.memory.
# NODE_COMPILE_CACHE: V8's code cache of the agent's modules, made here by this image's node with
#   these NODE_OPTIONS (V8 refuses a cache from another version or other flags, and then compiles
#   as before), so a pod does not compile the bundle at start (docs/performance.md). Built as root,
#   readable by all; the agent only reads it. Changing NODE_OPTIONS at run time only loses the gain.
ENV NODE_ENV=production \
    NODE_OPTIONS="--jitless --max-old-space-size=16 --max-semi-space-size=1" \
    NODE_COMPILE_CACHE=/app/compile-cache
USER 0:0
RUN ["/nodejs/bin/node", "/app/compile-cache.mjs"]
USER 65532:65532
EXPOSE 9721
ENTRYPOINT ["/nodejs/bin/node", "/app/imds-labeler.mjs"]
CMD ["agent", "--config", "/etc/imds-labeler/config.json"]
