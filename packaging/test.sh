#!/usr/bin/env bash
# Package tests for what packaging/build.sh left in target/dist/.
#
#   packaging/test.sh                              # x86_64-unknown-linux-musl: build, then test
#   packaging/test.sh --all --no-build             # test what build.sh --all left in target/dist
#
# Unless --no-build, each target is first built with packaging/build.sh (a no-op compile when
# the tree is unchanged), so the tests always see the current source.
# For each target: both static binaries (ELF machine, static, stripped; --version and real
# requests over a pipe, natively or under qemu-user-static); the .deb (members, modes, control
# fields, md5sums, lintian, byte-identical rebuild, then a real dpkg install into an offline
# root, upgrade keeping an edited conffile, remove and purge); each .ipk (every member and
# control field, Installed-Size, conffiles, the fixed postinst/prerm wrappers, byte-identical
# rebuild, unpacked into an offline root and run). opkg is not packaged for Debian, so the
# .ipk checks are structural.
#
# The dpkg tests use `dpkg --root` on a scratch directory, not the machine's own dpkg database:
# the package has no maintainer scripts (asserted below), so a chroot would run nothing more,
# and a shared build machine keeps its /etc untouched.
set -euo pipefail


usage() {
	cat <<'EOF'
usage: packaging/test.sh [--target TRIPLE ... | --all] [--no-build] [--dist DIR] [--strict] [--install-deps]

  --target TRIPLE  test this target's artefacts (repeatable; default x86_64-unknown-linux-musl)
  --all            every target (with --no-build: every target that has a binary in --dist)
  --no-build       test what is in the dist directory instead of running build.sh first
  --dist DIR       where build.sh puts them (default target/dist)
  --strict         a skipped check (feature not in this build yet) counts as a failure
  --install-deps   apt-get install what the tests need (lintian, qemu-user-static, file, binutils)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. packaging/common.sh
TARGETS=()
ALL=0
DIST=target/dist
STRICT=0
INSTALL_DEPS=0
BUILD=1
while [ $# -gt 0 ]; do
	case "$1" in
	--target)
		[ $# -ge 2 ] || {
			echo "test.sh: --target needs a value" >&2
			exit 2
		}
		TARGETS+=("$2")
		shift 2
		;;
	--all)
		ALL=1
		shift
		;;
	--dist)
		DIST=$2
		shift 2
		;;
	--strict)
		STRICT=1
		shift
		;;
	--no-build)
		BUILD=0
		shift
		;;
	--install-deps)
		INSTALL_DEPS=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done

VERSION=$(pkg_version)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export LC_ALL=C TZ=UTC
umask 022
if [ "$ALL" = 1 ]; then
	for t in "${ALL_TARGETS[@]}"; do
		[ "$BUILD" = 1 ] || [ -f "$DIST/$(binary_name "$t")" ] && TARGETS+=("$t")
	done
fi
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(x86_64-unknown-linux-musl)

# ---------------------------------------------------------------- tools
qemu_for() {
	case "$1" in
	x86_64-*) [ "$(uname -m)" = x86_64 ] || echo qemu-x86_64-static ;;
	aarch64-*) [ "$(uname -m)" = aarch64 ] || echo qemu-aarch64-static ;;
	armv7-*) echo qemu-arm-static ;;
	mipsel-*) echo qemu-mipsel-static ;;
	mips-*) echo qemu-mips-static ;;
	esac
}
need=()
for tool in file readelf lintian dpkg-deb md5sum; do
	command -v "$tool" >/dev/null || need+=("$tool")
done
for t in "${TARGETS[@]}"; do
	q=$(qemu_for "$t")
	[ -z "$q" ] || command -v "$q" >/dev/null || need+=("$q")
done
if [ ${#need[@]} -gt 0 ]; then
	apt=()
	for tool in "${need[@]}"; do
		case "$tool" in
		file) apt+=(file) ;;
		readelf) apt+=(binutils) ;;
		lintian) apt+=(lintian) ;;
		dpkg-deb | md5sum) apt+=(dpkg coreutils) ;;
		qemu-*) apt+=(qemu-user-static) ;;
		esac
	done
	mapfile -t apt < <(printf '%s\n' "${apt[@]}" | sort -u)
	if [ "$INSTALL_DEPS" = 1 ]; then
		sudo=()
		[ "$(id -u)" = 0 ] || sudo=(sudo)
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends "${apt[@]}"
	else
		echo "test.sh: missing ${need[*]}; install with" >&2
		echo "    apt-get install -y --no-install-recommends ${apt[*]}" >&2
		echo "or run again with --install-deps" >&2
		exit 1
	fi
fi

# ---------------------------------------------------------------- reporting
PASS=0
FAIL=0
SKIP=0
FAILED=()
ok() {
	PASS=$((PASS + 1))
	printf '  ok    %s\n' "$*"
}
bad() {
	FAIL=$((FAIL + 1))
	FAILED+=("$*")
	printf '  FAIL  %s\n' "$*"
}
skip() {
	if [ "$STRICT" = 1 ]; then
		bad "$* (skipped, but --strict)"
	else
		SKIP=$((SKIP + 1))
		printf '  skip  %s\n' "$*"
	fi
}
# check DESCRIPTION COMMAND... : pass if the command succeeds
check() {
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}
# same DESCRIPTION EXPECTED ACTUAL
same() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		bad "$1"
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/          /' | head -n 20 || true
	fi
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/xmpp-extauth-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- binaries
elf_expect() { # TRIPLE -> regex `file -b` must match
	case "$1" in
	x86_64-*) echo 'ELF 64-bit LSB .*x86-64' ;;
	aarch64-*) echo 'ELF 64-bit LSB .*ARM aarch64' ;;
	armv7-*) echo 'ELF 32-bit LSB .*ARM, EABI5' ;;
	mipsel-*) echo 'ELF 32-bit LSB .*MIPS, MIPS32 rel2' ;;
	mips-*) echo 'ELF 32-bit MSB .*MIPS, MIPS32 rel2' ;;
	esac
}

# run TRIPLE BINARY ARGS... : the binary natively or under qemu-user-static
run() {
	local t=$1 q
	shift
	q=$(qemu_for "$t")
	if [ -n "$q" ]; then "$q" "$@"; else "$@"; fi
}

# Replies as text with each byte shown, so "0\n" and "0" are told apart.
shown() { od -An -c | tr -s ' ' | sed 's/^ //'; }

test_binary() { # TRIPLE PATH LABEL
	local t=$1 bin=$2 label=$3 f out rc cfg users
	echo "== $label"
	if [ ! -f "$bin" ]; then
		bad "$label: $bin missing (run packaging/build.sh --target $t)"
		return
	fi
	f=$(file -b "$bin")
	if [[ "$f" =~ $(elf_expect "$t") ]]; then ok "$label: file: $(elf_expect "$t")"; else bad "$label: file says: $f"; fi
	if [[ "$f" == *"statically linked"* || "$f" == *"static-pie linked"* ]]; then
		ok "$label: file: statically linked"
	else
		bad "$label: not static: $f"
	fi
	[[ "$f" == *", stripped"* ]] && ok "$label: stripped" || bad "$label: not stripped: $f"
	# No program interpreter and no shared-library dependency at all.
	# readelf's output is captured first: with pipefail, `readelf | grep -q` fails whenever
	# grep stops reading early (readelf dies of SIGPIPE), which would invert these checks.
	local phdrs dyn attrs hdr
	phdrs=$(readelf -lW "$bin")
	dyn=$(readelf -dW "$bin" 2>/dev/null || true)
	attrs=$(readelf -A "$bin" 2>/dev/null || true)
	hdr=$(readelf -hW "$bin")
	if [[ "$phdrs" == *INTERP* ]]; then bad "$label: has a program interpreter"; else ok "$label: no INTERP"; fi
	if [[ "$dyn" == *"(NEEDED)"* ]]; then bad "$label: needs shared libraries"; else ok "$label: no NEEDED"; fi
	case "$t" in
	armv7-*)
		[[ "$attrs" == *"Tag_CPU_arch: v7"* ]] && ok "$label: ARMv7" || bad "$label: not ARMv7"
		[[ "$attrs" == *"Tag_ABI_VFP_args: VFP registers"* ]] &&
			ok "$label: hard-float ABI (musleabihf)" || bad "$label: not hard-float"
		;;
	mips-* | mipsel-*)
		# OpenWrt's 24kc targets are soft-float.
		[[ "$hdr" =~ Flags:.*o32 ]] && ok "$label: o32 ABI" || bad "$label: not o32"
		[[ "$attrs" == *"FP ABI: Soft float"* ]] &&
			ok "$label: soft float" || bad "$label: not soft float"
		;;
	esac

	set +e
	out=$(run "$t" "$bin" --version 2>"$TMP/err")
	rc=$?
	set -e
	if [ $rc = 2 ] && [ -z "$out" ] && [ ! -s "$TMP/err" ]; then
		# The skeleton binary (before the CLI is merged) exits 2 without a word.
		skip "$label: --version (this build has no CLI yet: exit 2, no output)"
		skip "$label: requests over a pipe (no CLI yet)"
		return
	fi
	if [ $rc = 0 ] && [[ "$out" == "$PKG $VERSION"* ]]; then
		ok "$label: --version runs: $(head -n 1 <<<"$out")"
	else
		bad "$label: --version: rc $rc, output '$out', stderr '$(head -c 300 "$TMP/err")'"
	fi
	case "$label" in
	*-file-only) same "$label: built without http and tls" "features: -http -tls" "$(sed -n 2p <<<"$out")" ;;
	*) same "$label: built with http and tls" "features: +http +tls" "$(sed -n 2p <<<"$out")" ;;
	esac

	cfg="$TMP/conf"
	users="$TMP/users-$label"
	printf '# empty test config\n' >"$cfg"
	: >"$users"
	chmod 600 "$users"
	serve() { run "$t" "$bin" --config "$cfg" --users-file "$users" 2>>"$TMP/serve.err"; }
	out=$(printf 'isuser:nobody:example.org\n' | serve | shown) || true
	same "$label: isuser of an unknown user answers exactly 0\\n" '0 \n' "$out"

	set +e
	printf 'S3cret:with:colons\n' | run "$t" "$bin" --config "$cfg" --users-file "$users" user add alice@example.org \
		>"$TMP/out" 2>"$TMP/err"
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		bad "$label: user add alice@example.org: rc $rc: $(head -c 300 "$TMP/err")"
		return
	fi
	ok "$label: user add alice@example.org"
	grep -q '^alice@example.org:\$6\$' "$users" && ok "$label: users file holds a \$6\$ hash" ||
		bad "$label: users file: $(head -c 200 "$users")"
	grep -q 'S3cret' "$users" && bad "$label: plaintext password in the users file" ||
		ok "$label: no plaintext password in the users file"
	out=$(printf 'isuser:alice:example.org\n' | serve | shown) || true
	same "$label: isuser of the added user answers exactly 1\\n" '1 \n' "$out"
	out=$(printf 'auth:alice:example.org:S3cret:with:colons\nauth:alice:example.org:S3cret\nisuser:bob:example.org\n' |
		serve | shown) || true
	same "$label: pipelined auth right, auth wrong, isuser unknown -> 1 0 0" '1 \n 0 \n 0 \n' "$out"
	# ejabberd framing: 2-byte big-endian length, reply 00 02 00 01.
	out=$(printf '\000\030isuser:alice:example.org' | serve | od -An -tx1 | tr -s ' ' | sed 's/^ //') || true
	same "$label: ejabberd frame isuser answers 00 02 00 01" '00 02 00 01' "$out"
}

# ---------------------------------------------------------------- .deb

# Build the same target again into DIR (compile is a no-op when the tree is unchanged).
rebuild() { # TRIPLE DIR [build.sh args...]
	local t=$1 d=$2
	shift 2
	if [ ! -f "$d/.built" ]; then
		packaging/build.sh --target "$t" --no-small --dist "$d" "$@" >"$d.log" 2>&1 &&
			touch "$d/.built" || {
			echo "          rebuild failed, see below" >&2
			tail -n 20 "$d.log" >&2
			return 1
		}
	fi
}

expected_deb_list() {
	cat <<EOF
drwxr-xr-x root/root ./
drwxr-xr-x root/root ./etc/
drwxr-x--- root/root ./etc/xmpp-extauth/
-rw-r--r-- root/root ./etc/xmpp-extauth.conf
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/xmpp-extauth
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/xmpp-extauth/
-rw-r--r-- root/root ./usr/share/doc/xmpp-extauth/README.md.gz
-rw-r--r-- root/root ./usr/share/doc/xmpp-extauth/changelog.Debian.gz
-rw-r--r-- root/root ./usr/share/doc/xmpp-extauth/copyright
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/xmpp-extauth
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man8/
-rw-r--r-- root/root ./usr/share/man/man8/xmpp-extauth.8.gz
EOF
}

# A fresh, empty dpkg database under DIR.
dpkg_root() {
	rm -rf "$1"
	mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates" "$1/var/lib/dpkg/triggers" "$1/var/log"
	: >"$1/var/lib/dpkg/status"
	: >"$1/var/lib/dpkg/available"
}
dpkg_in() { # ROOT ARGS...
	local r=$1
	shift
	dpkg --root="$r" --log="$r/var/log/dpkg.log" "${DPKG_FORCE[@]}" "$@" </dev/null
}

test_deb() { # TRIPLE
	local t=$1 a deb v bin x r field rb rev3 conf
	a=$(deb_arch "$t")
	v="$VERSION-1"
	deb="$DIST/${PKG}_${v}_${a}.deb"
	bin="$DIST/$(binary_name "$t")"
	echo "== $(basename "$deb")"
	[ -f "$deb" ] || {
		bad "$deb missing (run packaging/build.sh --target $t)"
		return
	}
	x="$TMP/deb-$a"
	rm -rf "$x"
	mkdir -p "$x"
	same ".deb: ar members" $'debian-binary\ncontrol.tar.xz\ndata.tar.xz' "$(ar t "$deb")"
	same ".deb: members, modes, owners" "$(expected_deb_list)" \
		"$(dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }')"
	dpkg-deb -R "$deb" "$x/root"
	same ".deb: control members (no maintainer scripts: creates no accounts, starts nothing)" \
		$'conffiles\ncontrol\nmd5sums' "$(ls "$x/root/DEBIAN")"
	same ".deb: conffiles" "/etc/$PKG.conf" "$(cat "$x/root/DEBIAN/conffiles")"
	field() { dpkg-deb -f "$deb" "$1"; }
	same ".deb: Package" "$PKG" "$(field Package)"
	same ".deb: Version" "$v" "$(field Version)"
	same ".deb: Architecture" "$a" "$(field Architecture)"
	same ".deb: Section" "net" "$(field Section)"
	same ".deb: no Depends (static binary)" "" "$(field Depends)"
	[[ "$(field Maintainer)" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] && ok ".deb: Maintainer has name and address" ||
		bad ".deb: Maintainer '$(field Maintainer)'"
	[[ "$(field Installed-Size)" =~ ^[0-9]+$ ]] && [ "$(field Installed-Size)" -ge $(($(stat -c %s "$bin") / 1024)) ] &&
		ok ".deb: Installed-Size $(field Installed-Size) KiB" || bad ".deb: Installed-Size '$(field Installed-Size)'"
	check ".deb: /usr/bin/xmpp-extauth is the dist binary" cmp "$bin" "$x/root/usr/bin/$PKG"
	check ".deb: md5sums match" sh -c "cd '$x/root' && md5sum --quiet -c DEBIAN/md5sums"
	same ".deb: md5sums cover every file outside /etc" \
		"$(cd "$x/root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sed 's|^\./||' | sort)" \
		"$(awk '{ print $2 }' "$x/root/DEBIAN/md5sums" | sort)"
	check ".deb: sample config is packaging/xmpp-extauth.conf" cmp packaging/xmpp-extauth.conf "$x/root/etc/$PKG.conf"
	check ".deb: man page is packaging/xmpp-extauth.8" cmp packaging/xmpp-extauth.8 <(gzip -dc "$x/root/usr/share/man/man8/$PKG.8.gz")
	gzip -dc "$x/root/usr/share/man/man8/$PKG.8.gz" >"$x/man8"
	grep -q '^\.TH  *"\?XMPP-EXTAUTH"\?  *"\?8"\?' "$x/man8" &&
		ok ".deb: man page is section 8" || bad ".deb: man page .TH is not section 8"
	check ".deb: README is README.md" cmp README.md <(gzip -dc "$x/root/usr/share/doc/$PKG/README.md.gz")
	gzip -dc "$x/root/usr/share/doc/$PKG/changelog.Debian.gz" >"$x/changelog"
	[[ "$(sed -n 1p "$x/changelog")" == "$PKG ($v) "* ]] &&
		ok ".deb: changelog.Debian top entry is $v" || bad ".deb: changelog.Debian top entry"
	grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
		"$x/root/usr/share/doc/$PKG/copyright" && ! grep -q '@BUNDLED_CRATES@' "$x/root/usr/share/doc/$PKG/copyright" &&
		ok ".deb: machine-readable copyright with the bundled crates" || bad ".deb: copyright file"

	# lintian: clean apart from the documented overrides (warnings and errors fail).
	if lintian --fail-on error,warning --display-info "$deb" >"$x/lintian" 2>&1; then
		ok ".deb: lintian clean ($(grep -c '^[EWI]:' "$x/lintian" || true) info tags, overrides in packaging/debian/lintian-overrides)"
	else
		bad ".deb: lintian"
		sed 's/^/          /' "$x/lintian"
	fi
	grep '^I:' "$x/lintian" | sed 's/^/          /' || true

	# Reproducible: the same tree and SOURCE_DATE_EPOCH give the same bytes.
	rb="$TMP/rebuild-$t"
	mkdir -p "$rb"
	if rebuild "$t" "$rb"; then
		check ".deb: byte-identical rebuild" cmp "$deb" "$rb/$(basename "$deb")"
	else
		bad ".deb: rebuild failed"
	fi

	# Install, upgrade, remove and purge with the real dpkg, into an offline root.
	if [ "$(id -u)" != 0 ]; then
		skip ".deb: install tests need root (dpkg --root keeps root ownership)"
		return
	fi
	DPKG_FORCE=()
	[ "$a" = "$(dpkg --print-architecture)" ] || DPKG_FORCE=(--force-architecture)
	r="$TMP/dpkgroot-$a"
	dpkg_root "$r"
	check ".deb: dpkg -i $v" dpkg_in "$r" -i "$deb"
	same ".deb: installed status" "install ok installed $v" \
		"$(dpkg_in "$r" -s $PKG | sed -n 's/^Status: //p; s/^Version: //p' | paste -sd' ')"
	check ".deb: installed /usr/bin/xmpp-extauth is executable" test -x "$r/usr/bin/$PKG"
	same ".deb: /etc/xmpp-extauth is root:root 0750" "root:root 750" "$(stat -c '%U:%G %a' "$r/etc/$PKG")"
	conf="$r/etc/$PKG.conf"
	same ".deb: dpkg records the conffile and its md5" " /etc/$PKG.conf $(md5sum <"$conf" | cut -d' ' -f1)" \
		"$(dpkg_in "$r" -s $PKG | sed -n '/^Conffiles:/,/^[A-Z]/p' | sed -n '2p')"
	same ".deb: no maintainer scripts installed" "" \
		"$(ls "$r/var/lib/dpkg/info" | grep -E "^$PKG\.(pre|post)(inst|rm)$" || true)"
	check ".deb: dpkg --verify clean" dpkg_in "$r" --verify $PKG
	set +e
	out=$(run "$t" "$r/usr/bin/$PKG" --version 2>/dev/null)
	rc=$?
	set -e
	if [ $rc = 0 ]; then ok ".deb: installed binary runs --version"; else skip ".deb: installed binary --version (rc $rc; CLI not merged yet?)"; fi

	# Upgrade to a rebuilt revision 2 after a local edit of the conffile.
	echo "# local edit $$" >>"$conf"
	cp "$conf" "$x/edited"
	mkdir -p "$TMP/rev2-$t"
	if ! rebuild "$t" "$TMP/rev2-$t" --revision 2; then
		bad ".deb: build.sh --revision 2 failed"
		return
	fi
	check ".deb: dpkg -i $VERSION-2 (upgrade)" dpkg_in "$r" --force-confdef --force-confold -i \
		"$TMP/rev2-$t/${PKG}_$VERSION-2_$a.deb"
	same ".deb: upgraded to $VERSION-2" "$VERSION-2" "$(dpkg_in "$r" -s $PKG | sed -n 's/^Version: //p')"
	check ".deb: upgrade kept the edited conffile" cmp "$x/edited" "$conf"
	check ".deb: same shipped conffile, so no .dpkg-dist" test ! -e "$conf.dpkg-dist"

	# Revision 3 ships a changed default config: the edit stays, the new one lands in .dpkg-dist.
	rev3="$x/rev3"
	dpkg-deb -R "$TMP/rev2-$t/${PKG}_$VERSION-2_$a.deb" "$rev3"
	echo "# a new default in revision 3" >>"$rev3/etc/$PKG.conf"
	sed -i "s/^Version: .*/Version: $VERSION-3/" "$rev3/DEBIAN/control"
	dpkg-deb --root-owner-group -Zxz --build "$rev3" "$x/rev3.deb" >/dev/null
	check ".deb: dpkg -i $VERSION-3 with a changed default config (--force-confold)" \
		dpkg_in "$r" --force-confdef --force-confold -i "$x/rev3.deb"
	check ".deb: upgrade kept the edited conffile" cmp "$x/edited" "$conf"
	check ".deb: the new default config is in .dpkg-dist" cmp "$rev3/etc/$PKG.conf" "$conf.dpkg-dist"

	# The admin's users file (created after install) is data, not a conffile.
	echo 'alice@example.org:$6$x$y' >"$r/etc/$PKG/users"
	check ".deb: dpkg -r" dpkg_in "$r" -r $PKG
	check ".deb: remove took the binary" test ! -e "$r/usr/bin/$PKG"
	check ".deb: remove kept the conffile" cmp "$x/edited" "$conf"
	same ".deb: status after remove" "deinstall ok config-files" "$(dpkg_in "$r" -s $PKG | sed -n 's/^Status: //p')"
	check ".deb: dpkg -P" dpkg_in "$r" -P $PKG
	check ".deb: purge removed /etc/xmpp-extauth.conf" test ! -e "$conf"
	check ".deb: purge removed .dpkg-dist" test ! -e "$conf.dpkg-dist"
	check ".deb: purge left the admin's users file alone" test -f "$r/etc/$PKG/users"
	same ".deb: nothing else left" "./etc/$PKG/users" \
		"$(cd "$r" && find . -path ./var -prune -o \( -type f -o -type l \) -print)"
	check ".deb: package unknown after purge" sh -c "! dpkg --root='$r' -s $PKG"

	# A purge straight after install leaves nothing at all.
	dpkg_root "$r"
	dpkg_in "$r" -i "$deb" >/dev/null 2>&1 || true
	check ".deb: install then purge" dpkg_in "$r" -P $PKG
	same ".deb: purge leaves no file or directory outside /var/lib/dpkg" "" \
		"$(cd "$r" && find . -mindepth 1 -path ./var -prune -o -print)"
}

# ---------------------------------------------------------------- .ipk

test_ipk() { # TRIPLE OPENWRT-ARCH
	local t=$1 a=$2 v="$VERSION-r1" ipk x bin c rb
	ipk="$DIST/${PKG}_${v}_${a}.ipk"
	bin="$DIST/$(binary_name "$t")"
	echo "== $(basename "$ipk")"
	[ -f "$ipk" ] || {
		bad "$ipk missing (run packaging/build.sh --target $t)"
		return
	}
	x="$TMP/ipk-$a"
	rm -rf "$x"
	mkdir -p "$x/outer" "$x/control" "$x/data"
	[[ "$(file -b "$ipk")" == "gzip compressed data"* ]] && ok ".ipk: outer is gzip (not ar)" ||
		bad ".ipk: outer is $(file -b "$ipk")"
	same ".ipk: outer members in ipkg-build order, owned 0/0" \
		$'-rw-r--r-- 0/0 ./debian-binary\n-rw-r--r-- 0/0 ./data.tar.gz\n-rw-r--r-- 0/0 ./control.tar.gz' \
		"$(tar -tzvf "$ipk" --numeric-owner | awk '{ print $1, $2, $6 }')"
	tar -xzf "$ipk" -C "$x/outer"
	same ".ipk: debian-binary" "2.0" "$(cat "$x/outer/debian-binary")"
	same ".ipk: debian-binary is 4 bytes" 4 "$(stat -c %s "$x/outer/debian-binary")"
	for m in data control; do
		[[ "$(file -b "$x/outer/$m.tar.gz")" == "gzip compressed data"* ]] && ok ".ipk: $m.tar.gz is gzip" ||
			bad ".ipk: $m.tar.gz is $(file -b "$x/outer/$m.tar.gz")"
	done
	same ".ipk: control.tar.gz members" \
		$'drwxr-xr-x 0/0 ./\n-rw-r--r-- 0/0 ./conffiles\n-rw-r--r-- 0/0 ./control\n-rwxr-xr-x 0/0 ./postinst\n-rwxr-xr-x 0/0 ./prerm' \
		"$(tar -tzvf "$x/outer/control.tar.gz" --numeric-owner | awk '{ print $1, $2, $6 }')"
	same ".ipk: data.tar.gz members" \
		$'drwxr-xr-x 0/0 ./\ndrwxr-xr-x 0/0 ./etc/\ndrwxr-x--- 0/0 ./etc/xmpp-extauth/\n-rw-r--r-- 0/0 ./etc/xmpp-extauth.conf\ndrwxr-xr-x 0/0 ./lib/\ndrwxr-xr-x 0/0 ./lib/upgrade/\ndrwxr-xr-x 0/0 ./lib/upgrade/keep.d/\n-rw-r--r-- 0/0 ./lib/upgrade/keep.d/xmpp-extauth\ndrwxr-xr-x 0/0 ./usr/\ndrwxr-xr-x 0/0 ./usr/bin/\n-rwxr-xr-x 0/0 ./usr/bin/xmpp-extauth' \
		"$(tar -tzvf "$x/outer/data.tar.gz" --numeric-owner | awk '{ print $1, $2, $6 }')"
	same ".ipk: every mtime is SOURCE_DATE_EPOCH" "$(date -u -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M')" \
		"$(for f in "$ipk" "$x/outer/data.tar.gz" "$x/outer/control.tar.gz"; do tar -tzvf "$f" --full-time | awk '{ print $4, substr($5, 1, 5) }'; done | sort -u)"
	tar -xzf "$x/outer/control.tar.gz" -C "$x/control"
	tar -xzf "$x/outer/data.tar.gz" -C "$x/data"

	c="$x/control/control"
	same ".ipk: control fields in OpenWrt's order" \
		"Package Version Depends Source SourceName License LicenseFiles Section SourceDateEpoch Maintainer Architecture Installed-Size Description" \
		"$(grep -o '^[A-Za-z-]*:' "$c" | tr -d : | paste -sd' ')"
	cf() { sed -n "s/^$1: *//p" "$c"; }
	same ".ipk: Package" "$PKG" "$(cf Package)"
	[[ "$(cf Package)" =~ ^[a-zA-Z0-9_.+-]+$ ]] && ok ".ipk: Package name charset" || bad ".ipk: Package name charset"
	same ".ipk: Version" "$v" "$(cf Version)"
	[[ "$(cf Version)" =~ ^[0-9]+\.[0-9]+\.[0-9]+-r[0-9]+$ ]] && ok ".ipk: Version is x.y.z-rN (apk-compatible)" ||
		bad ".ipk: Version '$(cf Version)'"
	same ".ipk: Architecture" "$a" "$(cf Architecture)"
	same ".ipk: file name is Package_Version_Architecture.ipk" "$(basename "$ipk")" \
		"$(cf Package)_$(cf Version)_$(cf Architecture).ipk"
	same ".ipk: Depends" "ca-bundle" "$(cf Depends)"
	same ".ipk: Source" "$PKG" "$(cf Source)"
	same ".ipk: License" "MIT OR Apache-2.0" "$(cf License)"
	same ".ipk: Section" "net" "$(cf Section)"
	same ".ipk: SourceDateEpoch" "$SOURCE_DATE_EPOCH" "$(cf SourceDateEpoch)"
	[ -n "$(cf Maintainer)" ] && ok ".ipk: Maintainer" || bad ".ipk: Maintainer empty"
	same ".ipk: Installed-Size is the size of the uncompressed data tar" \
		"$(gzip -dc "$x/outer/data.tar.gz" | wc -c)" "$(cf Installed-Size)"
	[ -n "$(cf Description)" ] && [ "$(tail -n 1 "$c" | cut -c1)" = " " ] &&
		ok ".ipk: Description last, continuation lines indented" || bad ".ipk: Description"
	same ".ipk: conffiles" "/etc/$PKG.conf" "$(cat "$x/control/conffiles")"
	while read -r f; do
		check ".ipk: conffile $f is a regular file in data" test -f "$x/data$f"
	done <"$x/control/conffiles"
	same ".ipk: postinst is OpenWrt's fixed wrapper" '#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@' "$(cat "$x/control/postinst")"
	same ".ipk: prerm is OpenWrt's fixed wrapper" '#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@' "$(cat "$x/control/prerm")"
	check ".ipk: scripts parse (sh -n)" sh -n "$x/control/postinst" "$x/control/prerm"
	# The wrapper must do nothing when installed into an image root without OpenWrt's
	# functions.sh (and there is no package logic: no users, no service).
	check ".ipk: postinst in an offline root exits 0" env IPKG_INSTROOT="$x/data" sh "$x/control/postinst"
	same ".ipk: sysupgrade keeps /etc/xmpp-extauth/ (keep.d)" "/etc/$PKG/" \
		"$(grep -v '^#' "$x/data/lib/upgrade/keep.d/$PKG")"
	check ".ipk: /usr/bin/xmpp-extauth is the dist binary" cmp "$bin" "$x/data/usr/bin/$PKG"
	check ".ipk: /etc/xmpp-extauth.conf is packaging/xmpp-extauth.conf" cmp packaging/xmpp-extauth.conf "$x/data/etc/$PKG.conf"
	set +e
	run "$t" "$x/data/usr/bin/$PKG" --version >/dev/null 2>&1
	rc=$?
	set -e
	if [ $rc = 0 ]; then ok ".ipk: unpacked binary runs --version"; else skip ".ipk: unpacked binary --version (rc $rc; CLI not merged yet?)"; fi

	rb="$TMP/rebuild-$t"
	mkdir -p "$rb"
	if rebuild "$t" "$rb"; then
		check ".ipk: byte-identical rebuild" cmp "$ipk" "$rb/$(basename "$ipk")"
	else
		bad ".ipk: rebuild failed"
	fi
}

# ---------------------------------------------------------------- main
T0=$(date +%s)
echo "xmpp-extauth $VERSION package tests: ${TARGETS[*]} (from $DIST)"
for t in "${TARGETS[@]}"; do
	if [ "$BUILD" = 1 ]; then
		echo "== packaging/build.sh --target $t"
		# CI machines start bare and are thrown away: let build.sh install its tools there.
		deps=()
		[ "${CI:-}" != true ] || deps=(--install-deps)
		if ! packaging/build.sh "${deps[@]}" --target "$t" --dist "$DIST" >"$TMP/build-$t.log" 2>&1; then
			tail -n 30 "$TMP/build-$t.log"
			bad "packaging/build.sh --target $t failed"
			continue
		fi
		ok "packaging/build.sh --target $t"
	fi
	test_binary "$t" "$DIST/$(binary_name "$t")" "$t"
	test_binary "$t" "$DIST/$(binary_name "$t" file-only)" "$t-file-only"
	[ -z "$(deb_arch "$t")" ] || test_deb "$t"
	for a in $(ipk_archs "$t"); do test_ipk "$t" "$a"; done
done
echo
# tests/all.sh adds up the "pkg: N passed, M failed" line.
echo "pkg: $PASS passed, $FAIL failed, $SKIP skipped ($(($(date +%s) - T0)) s)"
if [ "$FAIL" -gt 0 ]; then
	printf 'failed: %s\n' "${FAILED[@]}"
	exit 1
fi
