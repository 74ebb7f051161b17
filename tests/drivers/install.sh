#!/usr/bin/env bash
# Installs what tests/drivers.rs runs, when missing: PgJDBC (Debian's jar) and
# a JDK, node-postgres (npm ci), psycopg 3 and asyncpg (a venv under target/).
# Idempotent; run from anywhere. Versions are pinned in requirements.txt and
# node/package-lock.json.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/drivers"

apt_packages=()
[ -f /usr/share/java/postgresql.jar ] || apt_packages+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || apt_packages+=(default-jdk-headless)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_packages+=(python3-venv)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "drivers: installing ${apt_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

venv="$root/target/driver-venv"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  echo "drivers: creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi

if ! cmp -s "$here/node/package-lock.json" "$here/node/node_modules/.pgsplit-lock" 2>/dev/null; then
  echo "drivers: npm ci in $here/node"
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/node/package-lock.json" "$here/node/node_modules/.pgsplit-lock"
fi
