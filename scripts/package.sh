#!/usr/bin/env bash
# Builds Frontdesk's packages from a fresh clone: installs what is missing
# (scripts/setup.sh), builds the UI, the release app and the `frontdesk` command,
# its man page, then Tauri's bundler makes the .deb and the .rpm (both offline).
#   target/release/bundle/deb/Frontdesk_<version>_amd64.deb
#   target/release/bundle/rpm/Frontdesk-<version>-1.x86_64.rpm
# What goes into them is in src-tauri/tauri.conf.json ("bundle") and packaging/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() {
    printf '\n==> %s   (%ds)\n' "$*" "$SECONDS" >&2
}

step "setup"
scripts/setup.sh

step "ui: build"
(cd ui && npm run --silent build)

step "release build: the app and the frontdesk command"
# one cargo run for both, so the core and its dependencies are compiled once
cargo build --release -p frontdesk-app -p frontdesk-cli --bins

step "man pages (frontdesk manual)"
rm -rf target/package/man1
target/release/frontdesk manual target/package/man1
gzip -9n target/package/man1/*.1
gzip -9n <packaging/changelog >target/package/changelog.gz

step "bundle: .deb and .rpm"
# the bundler's own `cargo build` finds the app built above and compiles nothing
rm -rf target/release/bundle
(cd src-tauri && ../ui/node_modules/.bin/tauri build --bundles deb,rpm)

for f in target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm; do
    printf '%s  %s bytes\n' "$f" "$(stat -c %s "$f")" >&2
done
step "packages built"
