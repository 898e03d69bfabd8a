#!/usr/bin/env bash
# Installs the browser the interface's tests drive: Debian's Chromium and its
# WebDriver (packages chromium and chromium-driver: /usr/bin/chromium and
# /usr/bin/chromedriver). Does nothing when both are there. Needs root (apt).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
echo "install-browser: installing chromium and chromium-driver from Debian packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version >&2
/usr/bin/chromedriver --version >&2
