# syntax=docker/dockerfile:1
# The Outpost hub: docker build -f deploy/docker/hub.Dockerfile -t outpost-hub .
# Runs from the TypeScript sources (Node 24 strips types); no build step beyond installing
# production dependencies, of which better-sqlite3 compiles (or fetches) a native addon.

# GitRepo paths holding a Chart.yaml or a kustomization are rendered with helm and kustomize
# (packages/hub/src/gitrepos/tools.ts): built from source, from the Go modules the tests use
# (test/helm, test/kustomize: their go.sum pins every module), by the same build.sh, never
# downloaded as prebuilt binaries. GOTOOLCHAIN=local: the image's Go, no toolchain download.
FROM golang:1.26-bookworm AS tools
ENV GOTOOLCHAIN=local GOFLAGS=-mod=readonly
WORKDIR /src
COPY test/helm/build.sh test/helm/go.mod test/helm/go.sum test/helm/tools.go test/helm/
COPY test/kustomize/build.sh test/kustomize/go.mod test/kustomize/go.sum test/kustomize/tools.go test/kustomize/
RUN mkdir -p /out \
  && cp "$(OUTPOST_CACHE_DIR=/tmp/outpost bash test/helm/build.sh)/helm" /out/ \
  && cp "$(OUTPOST_CACHE_DIR=/tmp/outpost bash test/kustomize/build.sh)/kustomize" /out/ \
  && /out/helm version --short && /out/kustomize version

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
# Looked up on PATH by default (--helm-path, --kustomize-path).
COPY --from=tools --chown=0:0 /out/helm /out/kustomize /usr/local/bin/
WORKDIR /app
COPY --from=build --chown=0:0 /app /app
# 65532 is the "nonroot" uid of distroless images; the chart runs with the same ids.
USER 65532:65532
EXPOSE 8443
# --max-semi-space-size: packages/hub/src/node-flags.ts.
ENTRYPOINT ["node", "--max-semi-space-size=16", "/app/packages/hub/src/main.ts"]
CMD ["serve"]
