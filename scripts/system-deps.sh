#!/usr/bin/env bash
# The Debian packages Aqd needs, for one purpose: `run` (make run), `test` (make test and
# make test-all) or `ci` (.ci/run: test + docker-compose for `make compose-check`).
#
# Missing packages are installed with apt-get when running as root; otherwise the script names
# them with the command to run, and exits 1. Each package is checked with dpkg-query (a library
# has no command to look for); a package marked `name:command` also counts as present when the
# command is on PATH (npm ships inside NodeSource's nodejs, without Debian's npm package).
#
#   scripts/system-deps.sh run|test|ci [--check]     (--check: report only, never install)
set -euo pipefail

purpose=${1:-test}
check_only=${2:-}

# make run: npm bundles the front end at install time; WeasyPrint renders the contract PDFs
# with Pango, subsets their fonts with HarfBuzz-Subset (without it WeasyPrint falls back to
# fontTools: slower, and it warns on every PDF) and the Noto fonts draw the Arabic text;
# poppler-utils' pdftoppm draws the contract's pages as images a phone can read
# (forms/pdfpages.py).
run_packages=(
  npm:npm
  libpango-1.0-0
  libpangoft2-1.0-0
  libharfbuzz-subset0
  fonts-noto-core
  poppler-utils
)
# The tests also need PostgreSQL and Redis (the services), poppler-utils (pdfsig, pdftotext;
# already in run_packages) and libnss3-tools (certutil) for the independent signature checks, SoftHSM and opensc for the
# PKCS#11 seal test, and Debian's Chromium for the browser tests (Playwright drives it; no
# browser is downloaded).
test_packages=(
  "${run_packages[@]}"
  postgresql
  redis-server
  libnss3-tools
  softhsm2
  opensc
  chromium
)
ci_packages=(
  "${test_packages[@]}"
  docker-compose:docker-compose
)

case "$purpose" in
  run) wanted=("${run_packages[@]}") ;;
  test) wanted=("${test_packages[@]}") ;;
  ci) wanted=("${ci_packages[@]}") ;;
  *)
    echo "usage: $0 run|test|ci [--check]" >&2
    exit 2
    ;;
esac

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for entry in "${wanted[@]}"; do
  package=${entry%%:*}
  command=${entry#*:}
  if [ "$command" != "$entry" ] && command -v "$command" >/dev/null 2>&1; then
    continue
  fi
  installed "$package" || missing+=("$package")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || [ "$check_only" = "--check" ]; then
  echo "Aqd ($purpose) needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing the missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
