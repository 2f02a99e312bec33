#!/usr/bin/env bash
# Installs lpty for Lua 5.4 (/usr/local/lib/lua/5.4/lpty.so), which the Prosody end-to-end
# suite (tests/e2e_prosody.rs) needs: Prosody talks to an external auth helper through lpty.
# Debian bookworm's Prosody runs on Lua 5.4 but its lua-lpty package is built for Lua 5.1 and
# 5.2 only, so build lpty from Debian's own lua-lpty source package (apt-get source, through a
# deb-src list of our own: the system's apt sources are left as they are). Run as root; does
# nothing if `require "lpty"` already works in lua5.4.
set -euo pipefail
dest=/usr/local/lib/lua/5.4
if lua5.4 -e 'require "lpty"' 2>/dev/null; then
    echo "lpty for Lua 5.4: already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends lua5.4 liblua5.4-dev gcc dpkg-dev >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/src"
cat > "$tmp/src.sources" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt=(apt-get -q -o "Dir::Etc::SourceList=$tmp/src.sources" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$tmp/lists" -o APT::Sandbox::User=root)
"${apt[@]}" update >/dev/null
# Only the upstream tarball is needed; apt checks it against the signed Sources index. (The
# Debian packaging tarball is not needed, and some mirrors fail to serve it.)
(cd "$tmp/src" && "${apt[@]}" source --download-only lua-lpty >/dev/null 2>&1) || true
orig=$(ls "$tmp"/src/lua-lpty_*.orig.tar.gz 2>/dev/null | head -n 1)
dsc=$(ls "$tmp"/src/lua-lpty_*.dsc 2>/dev/null | head -n 1)
if [ -z "$orig" ] || [ -z "$dsc" ]; then
    echo "install-lpty: could not download the lua-lpty source package" >&2
    exit 1
fi
# The .dsc (verified by apt) names the tarball's SHA-256: check it here too.
want=$(awk -v f="$(basename "$orig")" '/^Checksums-Sha256:/ {s=1; next} /^[^ ]/ {s=0} s && $3 == f {print $1}' "$dsc")
got=$(sha256sum "$orig" | cut -d' ' -f1)
if [ -z "$want" ] || [ "$want" != "$got" ]; then
    echo "install-lpty: checksum mismatch for $(basename "$orig")" >&2
    exit 1
fi
tar xzf "$orig" -C "$tmp"
gcc -O2 -fPIC -shared -I/usr/include/lua5.4 "$tmp"/lua-lpty-*/lpty.c -o "$tmp/lpty.so"
install -d "$dest"
install -m 644 "$tmp/lpty.so" "$dest/lpty.so"
lua5.4 -e 'local l = require "lpty"; io.write("lpty for Lua 5.4: installed ", l._VERSION or "", "\n")'
