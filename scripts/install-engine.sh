#!/usr/bin/env bash
# Installs another minor version of PostgreSQL 15 beside the system's, for spec.version:
# fetches Debian's postgresql-15 and postgresql-client-15 packages of that version with
# apt-get download (bookworm has 15.18, bookworm-security 15.20), and unpacks them under
# the data root:
#
#   <data root>/engines/<version>/usr/lib/postgresql/15/bin/postgres
#
# The running server sees it at once (admission, polarctl engines within 30 s).
#
# Usage: scripts/install-engine.sh VERSION [--data-root DIR]
#   VERSION      e.g. 15.20 (apt-cache madison postgresql-15 lists what Debian has)
#   --data-root  the server's data root (default: /var/lib/polarstack as root, else
#                ~/.polarstack/data; the server's --data-root if it was given one)
# Downloads are kept in ${XDG_CACHE_HOME:-~/.cache}/polarstack/debs.
set -euo pipefail
usage() { echo "usage: $0 VERSION [--data-root DIR]" >&2; exit 2; }
[ $# -ge 1 ] || usage
version=$1; shift
if [ "$(id -u)" = 0 ]; then root=/var/lib/polarstack; else root="${POLARSTACK_HOME:-$HOME/.polarstack}/data"; fi
while [ $# -gt 0 ]; do
  case $1 in
    --data-root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
    *) usage ;;
  esac
done
if ! [[ $version =~ ^15\.[0-9]+$ ]]; then
  echo "error: VERSION must be 15.<minor> (this release runs PostgreSQL 15), got \"$version\"" >&2
  exit 2
fi
dest="$root/engines/$version"
if [ -x "$dest/usr/lib/postgresql/15/bin/postgres" ]; then
  echo "PostgreSQL $version is installed already in $dest"
  exit 0
fi
find_full() { apt-cache madison postgresql-15 2>/dev/null | awk -v v="$version" '{ if (index($3, v "-") == 1) { print $3; exit } }'; }
full=$(find_full)
if [ -z "$full" ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  full=$(find_full)
fi
if [ -z "$full" ]; then
  echo "error: Debian's archive has no postgresql-15 $version; it has: $(apt-cache madison postgresql-15 2>/dev/null | awk '{print $3}' | tr '\n' ' ')" >&2
  exit 1
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/polarstack/debs"
mkdir -p "$cache"
for pkg in postgresql-15 postgresql-client-15; do
  deb="$cache/${pkg}_${full}_amd64.deb"
  if [ ! -s "$deb" ]; then
    (cd "$cache" && apt-get download -qq "$pkg=$full" 2>&1 | grep -v "unsandboxed" || true)
    # apt-get names the file with the version's ':' encoded; find what it wrote.
    found=$(ls "$cache"/"${pkg}"_*"${full#*:}"*.deb 2>/dev/null | head -1 || true)
    [ -n "$found" ] && [ "$found" != "$deb" ] && mv "$found" "$deb"
  fi
  [ -s "$deb" ] || { echo "error: could not download $pkg $full" >&2; exit 1; }
done
tmp="$dest.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
for pkg in postgresql-15 postgresql-client-15; do dpkg-deb -x "$cache/${pkg}_${full}_amd64.deb" "$tmp"; done
got=$("$tmp/usr/lib/postgresql/15/bin/postgres" --version | sed -n 's/.*(PostgreSQL) \([0-9.]*\).*/\1/p')
if [ "$got" != "$version" ]; then
  echo "error: the unpacked postgres says it is \"$got\", not $version" >&2
  exit 1
fi
chmod -R a+rX "$tmp"
mkdir -p "$root/engines"
chmod 755 "$root/engines"
mv "$tmp" "$dest"
trap - EXIT
echo "installed PostgreSQL $version ($full) in $dest"
