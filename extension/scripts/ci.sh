#!/usr/bin/env bash
# CI for the VS Code extension: unit tests, the packaged .vsix, and the end-to-end test in a
# real VS Code (code-server) driven by headless Chromium. Run from anywhere:
#
#   bash extension/scripts/ci.sh
#
# Needs Node 20 and npm. As root on Debian it installs what is missing (chromium, ripgrep,
# libkrb5-dev, a C++ toolchain). The end-to-end scenarios that need `codegend lsp` use the
# repository's .venv (or `codegend` on PATH) and are skipped, saying why, when it is absent.
# Environment: CODE_SERVER_DIR (install cache, default /tmp/code-server-cache), E2E_ONLY,
# E2E_READY_TIMEOUT_S (see test/e2e/run.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
elapsed() { echo "-- $1: $(( $(date +%s) - $2 )) s"; }

step "system packages"
t0=$(date +%s)
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
{ command -v make >/dev/null && command -v g++ >/dev/null; } || missing+=(build-essential)
command -v python3 >/dev/null || missing+=(python3)
if (( ${#missing[@]} > 0 )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "ci.sh: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
elapsed "system packages" "$t0"

step "npm ci, compile, unit tests, package"
t0=$(date +%s)
npm ci --no-audit --no-fund
npm run compile
npm test
npm run package
elapsed "build and unit tests" "$t0"

step "code-server (VS Code for the browser)"
t0=$(date +%s)
entry=$(bash scripts/install-code-server.sh "${CODE_SERVER_DIR:-/tmp/code-server-cache}" | tail -n 1)
elapsed "code-server install" "$t0"

step "end to end"
t0=$(date +%s)
# The server logs at debug level, so a failure's kept logs (test-artifacts/) show its decisions.
CODE_SERVER_ENTRY="$entry" CHROMIUM="$(command -v chromium)" E2E_CODEGEND_DEBUG="${E2E_CODEGEND_DEBUG:-1}" \
  npm run -s e2e
elapsed "end to end" "$t0"
