#!/usr/bin/env bash
# Installs the Debian packages pgswarm builds, runs and tests with, and the
# npm packages of the driver and browser tests. Idempotent: it only calls apt-get or npm
# when something is missing. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql-15 carries the contrib modules (postgresql-contrib-15 is only a
# virtual name it provides, which dpkg never reports as installed).
packages=(
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy
  postgresql-15 postgresql-client-15
  libpq-dev libpg-query-dev libasio-dev libssl-dev libtomlplusplus-dev libcli11-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcpp-httplib-dev libyaml-cpp-dev
  libidn-dev libgtest-dev libgmock-dev libbenchmark-dev
  iproute2 procps curl ca-certificates
)

# Not installed here: the docker CLI that integration.swarm_stack_test needs
# for `docker stack config`. Debian 12's docker.io is 20.10, which lacks that
# command, so installing it would not help; the test fails loudly without one.

# Node.js for tests/drivers and tests/browser: Debian's, unless some node is there already.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
# The dashboard's browser test drives Debian's chromium (playwright-core never
# downloads a browser here).
[ -x /usr/bin/chromium ] || packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

install_debian_packages() {
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi

  # pgswarm creates its own clusters; keep Debian from creating and starting a
  # default one on port 5432 when postgresql is first installed.
  if ! dpkg-query -W -f='${Status}' postgresql-common 2>/dev/null | grep -q "install ok installed"; then
    $sudo mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo tee -a /etc/postgresql-common/createcluster.conf >/dev/null
  fi

  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
[ ${#missing[@]} -eq 0 ] || install_debian_packages

# node-postgres for tests/drivers/node, pinned by its package-lock.json.
# From npm: Debian's node-pg cannot be installed next to a nodejs that is not
# Debian's own.
driver_dir=tests/drivers/node
if [ ! -f "$driver_dir/node_modules/pg/package.json" ]; then
  echo "install-deps: installing node-postgres into $driver_dir"
  (cd "$driver_dir" && npm ci --no-audit --no-fund --silent)
fi

# playwright-core for tests/browser (the dashboard in chromium), pinned by its
# package-lock.json; it drives /usr/bin/chromium and downloads no browser.
browser_dir=tests/browser
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ]; then
  echo "install-deps: installing playwright-core into $browser_dir"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --silent)
fi
