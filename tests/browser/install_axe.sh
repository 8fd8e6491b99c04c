#!/usr/bin/env bash
# Install axe-core (pinned) with npm into a prefix, only when it is missing or another version,
# and print the absolute path of axe.min.js on stdout (npm's own output goes to stderr).
#
#   tests/browser/install_axe.sh [PREFIX]        default PREFIX: build/browser
#   AXE_CORE_VERSION=4.x.y tests/browser/install_axe.sh   to try another version
set -euo pipefail

AXE_CORE_VERSION="${AXE_CORE_VERSION:-4.14.1}"
PREFIX="${1:-build/browser}"
PKG_DIR="$PREFIX/node_modules/axe-core"
AXE_JS="$PKG_DIR/axe.min.js"

installed_version() {
    [ -f "$PKG_DIR/package.json" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$(cd "$PKG_DIR" && pwd)/package.json"
}

if [ ! -f "$AXE_JS" ] || [ "$(installed_version)" != "$AXE_CORE_VERSION" ]; then
    command -v npm >/dev/null || { echo "npm not found: cannot install axe-core" >&2; exit 1; }
    mkdir -p "$PREFIX"
    # --ignore-scripts: axe-core needs no install scripts; --no-save keeps no package.json/lock around.
    npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --no-package-lock --ignore-scripts \
        "axe-core@$AXE_CORE_VERSION" >&2
fi

[ -f "$AXE_JS" ] || { echo "axe.min.js missing after install: $AXE_JS" >&2; exit 1; }
echo "$(cd "$(dirname "$AXE_JS")" && pwd)/axe.min.js"
