# syntax=docker/dockerfile:1
# The Outpost hub: docker build -f deploy/docker/hub.Dockerfile -t outpost-hub .
# Runs from the TypeScript sources (Node 24 strips types); no build step beyond installing
# production dependencies, of which better-sqlite3 compiles (or fetches) a native addon.

FROM node:24-bookworm-slim AS build
# Toolchain for better-sqlite3's addon when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
RUN npm install -g pnpm@10.34.9
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/shared/package.json packages/shared/
COPY packages/hub/package.json packages/hub/
RUN pnpm install --frozen-lockfile --prod --filter "@outpost/hub..."
COPY packages/shared/src packages/shared/src
COPY packages/hub/src packages/hub/src
# The dashboard's files, served under /ui/.
COPY packages/hub/ui packages/hub/ui
# Tests are not part of the image.
RUN find packages -name '*.test.ts' -delete

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# GitRepos: the hub runs the system git (packages/hub/src/gitrepos/git.ts); https remotes
# need its CA certificates, ssh remotes the ssh client, which wants a passwd entry for the
# uid it runs as (it refuses to start without one).
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
  && rm -rf /var/lib/apt/lists/* \
  && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
  && echo 'nonroot:x:65532:' >> /etc/group
WORKDIR /app
COPY --from=build --chown=0:0 /app /app
# 65532 is the "nonroot" uid of distroless images; the chart runs with the same ids.
USER 65532:65532
EXPOSE 8443
# --max-semi-space-size: packages/hub/src/node-flags.ts.
ENTRYPOINT ["node", "--max-semi-space-size=16", "/app/packages/hub/src/main.ts"]
CMD ["serve"]
