# syntax=docker/dockerfile:1
# The Outpost agent: docker build -f deploy/docker/agent.Dockerfile -t outpost-agent .
# Runs from the TypeScript sources through packages/agent/main.mjs, which turns on Node's
# compile cache (NODE_COMPILE_CACHE) before loading them.

FROM node:24-bookworm-slim AS build
RUN npm install -g pnpm@10.34.9
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/shared/package.json packages/shared/
COPY packages/agent/package.json packages/agent/
RUN pnpm install --frozen-lockfile --prod --filter "@outpost/agent..."
COPY packages/shared/src packages/shared/src
COPY packages/agent/main.mjs packages/agent/
COPY packages/agent/src packages/agent/src
RUN find packages -name '*.test.ts' -delete

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    # glibc's per-thread malloc arenas cost resident memory for no gain in this process.
    MALLOC_ARENA_MAX=2 \
    # On a read-only root filesystem /tmp is the writable emptyDir the chart mounts.
    NODE_COMPILE_CACHE=/tmp/node-compile-cache
WORKDIR /app
COPY --from=build --chown=0:0 /app /app
USER 65532:65532
ENTRYPOINT ["node", "/app/packages/agent/main.mjs"]
CMD ["run"]
