#!/usr/bin/env bash
# Make sure Debian's headless Chromium and its WebDriver are installed (the browser test of the connection
# form needs /usr/bin/chromium and /usr/bin/chromedriver). Does nothing when both are there; otherwise
# installs the Debian packages `chromium` and `chromium-driver` quietly with apt-get (root, or sudo without
# a password). Exits non-zero with a clear message when that is impossible.
#
# Called by tests/browser/conftest.py (session fixture) before Chromium is started; safe to run by hand.
# Environment: MSGFLASH_APT_TIMEOUT (seconds for the whole install, default 600).
set -euo pipefail

have() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

if have; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "ensure_chromium: /usr/bin/chromium or /usr/bin/chromedriver is missing and this user can neither" \
        "run apt-get (not root) nor sudo without a password. Install them once with:" \
        "sudo apt-get install chromium chromium-driver" >&2
    exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get on this machine; install Chromium and ChromeDriver so that" \
        "/usr/bin/chromium and /usr/bin/chromedriver exist." >&2
    exit 2
fi

limit=${MSGFLASH_APT_TIMEOUT:-600}
log=$(mktemp -t msgflash-chromium-apt.XXXXXX)
trap 'rm -f "$log"' EXIT
t0=$(date +%s)
echo "ensure_chromium: installing Debian's chromium and chromium-driver with apt-get (once per machine)..."
export DEBIAN_FRONTEND=noninteractive
apt=("${SUDO[@]}" timeout "$limit" apt-get -q -y -o DPkg::Lock::Timeout=300)
# `apt-get update` first, as on a fresh machine the package lists may be empty or old.
if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends chromium chromium-driver; } \
    >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "ensure_chromium: apt-get could not install chromium and chromium-driver (output above)." >&2
    exit 1
fi
if ! have; then
    echo "ensure_chromium: apt-get succeeded but /usr/bin/chromium or /usr/bin/chromedriver is still missing." >&2
    exit 1
fi
echo "ensure_chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1) installed in $(($(date +%s) - t0)) s"
