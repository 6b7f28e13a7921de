#!/bin/sh
# Installs the Debian packages duet needs that are missing: to build (and run the demo; the
# server is on libmicrohttpd), and with the argument "test" also what the tests use: curl (the
# server's tests), clang (libFuzzer), Open MPI (data-parallel training; duet builds without
# it), liblinear-tools (the optimum compared with LIBLINEAR's)
# and chromium with Node.js (browser checks of the report page and the server's page;
# playwright-core and the openai client come from npm into tests/browser/node_modules). Needs
# root and apt-get; without them it says what to install.
need="gcc make pkg-config libcjson-dev libutf8proc-dev zlib1g-dev libopenblas-dev libpng-dev libpcre2-dev libmicrohttpd-dev"
[ "$1" = test ] && need="$need liblinear-tools chromium curl clang libopenmpi-dev openmpi-bin"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ "$1" = test ] && ! command -v node >/dev/null 2>&1 && missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "duet: installing missing packages:$missing"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "duet: run as root: apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null || {
    echo "duet: apt-get install$missing failed" >&2; exit 1; }
