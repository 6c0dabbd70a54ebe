#!/usr/bin/env bash
# The HTML report's test renders it in headless Chromium (Debian package `chromium`). CI runs
# as root on a fresh machine: install it there when missing (quietly; a failure fails the run,
# so the test never silently skips in CI). Elsewhere without root: say how, and go on (the test
# then skips outside CI, saying why).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the HTML report's browser test..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null
else
  echo "note: chromium is not installed; the HTML report's browser test will be skipped" \
    "(install it: sudo apt-get install chromium)" >&2
fi
