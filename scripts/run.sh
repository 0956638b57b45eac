#!/usr/bin/env bash
# THE run command: installs what is missing, builds the UI and the app, and opens
# the Frontdesk window. Arguments go to the app (e.g. `scripts/run.sh --demo`).
# The database is $FRONTDESK_DB, or frontdesk.sqlite3 in the app's data directory.
# Without a display, run it under `xvfb-run -a -s "-screen 0 1366x768x24"`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
    echo "run.sh: no display (DISPLAY/WAYLAND_DISPLAY unset). Headless, use:" >&2
    echo "  xvfb-run -a -s \"-screen 0 1366x768x24\" scripts/run.sh $*" >&2
    exit 2
fi

scripts/setup.sh
(cd ui && npm run --silent build)
# Same selection as scripts/test.sh, so both reuse one build (see the note there).
cargo build --workspace
exec target/debug/frontdesk-app "$@"
