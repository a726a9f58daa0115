#!/usr/bin/env bash
# Installs code-server (VS Code 1.96 for the browser) from the npm registry into a cache
# directory, for the extension's end-to-end test. Idempotent: a finished install is kept.
#
# Usage: install-code-server.sh [DIR]   (default: $CODE_SERVER_DIR or /tmp/code-server-cache)
# Prints the path of the code-server entry script on its last line of stdout.
#
# Works around what keeps a plain `npm install -g code-server` from finishing offline-from-GitHub:
#  - as root, code-server's postinstall refuses to run without --unsafe-perm;
#  - lib/vscode/npm-shrinkwrap.json resolves @vscode/proxy-agent@0.27.0 from a GitHub git URL;
#    the registry tarball of that version has the identical sha512, so we point there instead;
#  - @vscode/ripgrep's postinstall downloads rg from GitHub unless its cache tarball exists;
#    we build that tarball from Debian's ripgrep;
#  - the native modules (kerberos, node-pty, ...) compile against the local Node headers.
set -euo pipefail

VERSION=4.96.4
DIR="${1:-${CODE_SERVER_DIR:-/tmp/code-server-cache}}"
PKG="$DIR/node_modules/code-server"
MARKER="$DIR/.installed-$VERSION"

if [[ -f "$MARKER" && -f "$PKG/out/node/entry.js" ]]; then
  echo "$PKG/out/node/entry.js"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "install-code-server: '$1' not found ($2)" >&2; exit 1; }; }
need node "Node 20 is required"
need npm "npm is required"
need rg "install Debian's ripgrep package"
need make "install build-essential"
need g++ "install build-essential"
[[ "$(node -p 'process.versions.node.split(".")[0]')" == 20 ]] || { echo "install-code-server: code-server $VERSION needs Node 20" >&2; exit 1; }

start=$(date +%s)
rm -rf "$DIR"
mkdir -p "$DIR"
echo '{"private": true}' > "$DIR/package.json"

# 1. code-server and its own dependencies, without running any install script yet.
npm install --prefix "$DIR" --no-audit --no-fund --ignore-scripts "code-server@$VERSION" >&2

# 2. Point @vscode/proxy-agent at the registry tarball (same integrity hash as the git build).
SHRINKWRAP="$PKG/lib/vscode/npm-shrinkwrap.json"
node - "$SHRINKWRAP" <<'JS'
const fs = require("fs");
const file = process.argv[2];
const lock = JSON.parse(fs.readFileSync(file, "utf8"));
const entry = lock.packages["node_modules/@vscode/proxy-agent"];
if (!entry) throw new Error("no @vscode/proxy-agent in " + file);
if (entry.resolved.startsWith("git")) {
  entry.resolved = `https://registry.npmjs.org/@vscode/proxy-agent/-/proxy-agent-${entry.version}.tgz`;
  fs.writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
}
JS

# 3. The ripgrep download cache, filled from Debian's rg (a private TMPDIR keeps it ours).
export TMPDIR="$DIR/tmp"
RG_CACHE="$TMPDIR/vscode-ripgrep-cache-1.15.9"
mkdir -p "$RG_CACHE/stage"
cp "$(command -v rg)" "$RG_CACHE/stage/rg"
tar czf "$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$RG_CACHE/stage" rg

# 4. Now run every install script: native modules, then code-server's postinstall, which
#    installs lib/vscode and its built-in extensions.
if [[ -f /usr/include/node/node.h && -z "${npm_config_nodedir:-}" ]]; then
  export npm_config_nodedir=/usr
fi
(cd "$DIR" && npm rebuild --unsafe-perm --foreground-scripts) >&2

[[ -e "$PKG/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ]] || { echo "install-code-server: ripgrep missing after install" >&2; exit 1; }
touch "$MARKER"
echo "install-code-server: installed code-server $VERSION in $(( $(date +%s) - start ))s" >&2
echo "$PKG/out/node/entry.js"
