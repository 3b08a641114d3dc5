#!/usr/bin/env bash
# System packages the hub needs beyond Python: Java 17+ and Maven (the local Kafka broker) and,
# for the dashboard's browser test, Debian's chromium. Installs only what is missing, and only
# where it can (root with apt-get); otherwise it says what to install.
set -euo pipefail
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# a CJK font, so the dashboard screenshot of the browser test shows the Chinese province names
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "please install: ${missing[*]} (needed for the local broker and the dashboard test)" >&2
  exit 1
fi
