#!/usr/bin/env bash
# Install Debian's headless Chromium for the dashboard's browser tests when it is missing.
# Playwright drives it through `executable_path`; never `playwright install` (its CDN is not
# reachable here, and Debian's browser is the one we test with).
set -euo pipefail
CHROMIUM=/usr/lib/chromium/chromium-headless-shell
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-browser: $CHROMIUM is missing; run as root: apt-get install chromium-headless-shell" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium-headless-shell fonts-dejavu-core >/dev/null
"$CHROMIUM" --version
