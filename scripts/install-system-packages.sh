#!/usr/bin/env bash
# Debian packages the full test suite needs beyond npm and Maven: PostgreSQL 15 (ecommerce pipeline)
# and Chromium (the dashboard's browser test). Installs only what is missing; needs root (or sudo).
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing ${missing[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
