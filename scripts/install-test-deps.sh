#!/usr/bin/env bash
# Installs the Debian packages the test suites need, only where they are missing:
# PostgreSQL 15 (server tests), Chromium + ChromeDriver + CJK fonts (dashboard browser tests),
# the aarch64 cross linker (the phone library's size check, bindings/scripts/mobile-library.sh).
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
# Chinese glyphs in the dashboard screenshots (otherwise they render as boxes).
[ -n "$(fc-list :lang=zh family 2>/dev/null)" ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing packages ${need[*]} and not root" >&2; exit 1; fi
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
