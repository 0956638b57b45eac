#!/usr/bin/env bash
# Installs everything Frontdesk needs to build, run and test on a fresh Debian 12
# machine, and nothing that is already there. Safe to run on every build: when the
# machine is complete it only checks and returns (well under a second).
#
#   system packages   libwebkit2gtk-4.1-dev (build), xvfb + xauth (headless window),
#                     webkit2gtk-driver (WebKitWebDriver for the e2e tests),
#                     libssl-dev + pkg-config (SQLCipher's libcrypto),
#                     gnome-keyring + dbus (the OS keyring test),
#                     imagemagick (optional: whole-screen screenshots)
#   ui/node_modules   npm ci (npm install when there is no lockfile)
#   tauri-driver      cargo install tauri-driver --locked --version 2.1.0
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

# ---- Debian packages -------------------------------------------------------------
missing=()
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if ! pkg-config --exists webkit2gtk-4.1 2>/dev/null; then
    missing+=(libwebkit2gtk-4.1-dev)
fi
# libssl-dev + pkg-config: SQLCipher links the system libcrypto; gnome-keyring + dbus:
# the tests' OS keyring (a Secret Service in a private D-Bus session)
for pkg in xvfb xauth webkit2gtk-driver libssl-dev pkg-config gnome-keyring dbus; do
    pkg_installed "$pkg" || missing+=("$pkg")
done

optional=()
pkg_installed imagemagick || optional+=(imagemagick)

if ((${#missing[@]} + ${#optional[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    log "installing Debian packages: ${missing[*]} ${optional[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    if ((${#missing[@]} > 0)); then
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if ((${#optional[@]} > 0)); then
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
            log "optional package(s) ${optional[*]} could not be installed; continuing"
    fi
fi

# ---- UI dependencies ---------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install; when the committed
# lockfile (or package.json) is newer than it, node_modules is stale.
if [[ -f ui/package.json ]]; then
    stamp=ui/node_modules/.package-lock.json
    if [[ ! -f $stamp || ui/package.json -nt $stamp ||
        (-f ui/package-lock.json && ui/package-lock.json -nt $stamp) ]]; then
        if [[ -f ui/package-lock.json ]]; then
            log "npm ci in ui/"
            (cd ui && npm ci --no-audit --no-fund --loglevel=error)
        else
            log "npm install in ui/ (no lockfile yet)"
            (cd ui && npm install --no-audit --no-fund --loglevel=error)
        fi
    fi
fi

# ---- tauri-driver ------------------------------------------------------------------
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v tauri-driver >/dev/null 2>&1; then
    log "cargo install tauri-driver 2.1.0"
    cargo install tauri-driver --locked --version 2.1.0
fi
