#!/usr/bin/env bash
# Build the static musl binaries, the .deb (amd64/arm64) and the OpenWrt .ipk files.
#
#   packaging/build.sh --target x86_64-unknown-linux-musl   # repeatable
#   packaging/build.sh --all                                # every target below
#   packaging/build.sh --install-deps --all                 # first install what is missing
#
# Output goes to target/dist/ (or --dist DIR): the raw binaries (full build and the
# `--no-default-features` file-only build), the packages, SIZES.md and SHA256SUMS.
# Reproducible: SOURCE_DATE_EPOCH defaults to the last commit's time, archives are made with
# sorted names, numeric root ownership and clamped mtimes, gzip without names or stamps.
# Toolchains: std is rebuilt from rust-src for every target (smaller, see BUILD_STD below);
# x86_64 uses Debian's musl-gcc for ring's C; aarch64 the Debian cross gcc and rust-lld;
# armv7/mips/mipsel have no rust-std from rustup, so zig (cargo-zigbuild) is their C
# compiler, libc and linker.
set -euo pipefail

readonly ZIG_VERSION=0.17.1
readonly ZIGBUILD_VERSION=0.24.1
# Who the packages name as maintainer; override with XMPP_EXTAUTH_MAINTAINER.
readonly MAINTAINER="${XMPP_EXTAUTH_MAINTAINER:-xmpp-extauth developers <maintainers@users.noreply.r-seed-779b263c.example>}"

usage() {
	cat <<'EOF'
usage: packaging/build.sh [options] (--target TRIPLE ... | --all)

  --target TRIPLE   build this target (repeatable); one of:
                      x86_64-unknown-linux-musl       .deb amd64, .ipk x86_64
                      aarch64-unknown-linux-musl      .deb arm64, .ipk aarch64_cortex-a53, aarch64_generic
                      armv7-unknown-linux-musleabihf  .ipk arm_cortex-a7_neon-vfpv4
                      mipsel-unknown-linux-musl       .ipk mipsel_24kc
                      mips-unknown-linux-musl         .ipk mips_24kc
  --all             every target above
  --install-deps    install missing build tools first (apt-get, rustup, pip, cargo install)
  --revision N      package revision: .deb VERSION-N, .ipk VERSION-rN (default 1)
  --dist DIR        output directory (default target/dist)
  --no-small        skip the --no-default-features (file backend only) size build
  --no-packages     binaries only
  -h, --help        this text

Environment: SOURCE_DATE_EPOCH (default: last commit time), XMPP_EXTAUTH_MAINTAINER.
EOF
}

die() {
	printf 'build.sh: %s\n' "$*" >&2
	exit 1
}
note() { printf '==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- arguments
COMMAND="packaging/build.sh $*"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. packaging/common.sh
TARGETS=()
INSTALL_DEPS=0
REVISION=1
DIST=target/dist
SMALL=1
PACKAGES=1
while [ $# -gt 0 ]; do
	case "$1" in
	--target)
		[ $# -ge 2 ] || die "--target needs a value"
		TARGETS+=("$2")
		shift 2
		;;
	--target=*)
		TARGETS+=("${1#--target=}")
		shift
		;;
	--all)
		TARGETS+=("${ALL_TARGETS[@]}")
		shift
		;;
	--install-deps)
		INSTALL_DEPS=1
		shift
		;;
	--revision)
		[ $# -ge 2 ] || die "--revision needs a value"
		REVISION=$2
		shift 2
		;;
	--dist)
		[ $# -ge 2 ] || die "--dist needs a value"
		DIST=$2
		shift 2
		;;
	--no-small)
		SMALL=0
		shift
		;;
	--no-packages)
		PACKAGES=0
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done
[ ${#TARGETS[@]} -gt 0 ] || {
	usage >&2
	die "no target: give --target TRIPLE or --all"
}
case "$REVISION" in
'' | *[!0-9]* | 0*) die "--revision: want a positive integer, got '$REVISION'" ;;
esac
# Drop duplicates, keep order, reject unknown triples.
declare -A seen=()
uniq=()
for t in "${TARGETS[@]}"; do
	case " ${ALL_TARGETS[*]} " in
	*" $t "*) ;;
	*) die "--target: unsupported triple '$t' (see --help)" ;;
	esac
	[ -n "${seen[$t]:-}" ] || uniq+=("$t")
	seen[$t]=1
done
TARGETS=("${uniq[@]}")

# ---------------------------------------------------------------- tools
SYSROOT=$(rustc --print sysroot) || die "rustc not found: install Rust with rustup (https://rustup.rs)"
have_std() { [ -d "$SYSROOT/lib/rustlib/$1/lib" ]; }
have_rust_src() { [ -d "$SYSROOT/lib/rustlib/src/rust/library" ]; }
have_zig() { command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1; }
have_zigbuild() { cargo zigbuild --help >/dev/null 2>&1; }

APT=()
RUSTUP=()
PIP=()
CARGO_INSTALL=()
missing_tools() {
	APT=()
	RUSTUP=()
	PIP=()
	CARGO_INSTALL=()
	local t
	for t in "${TARGETS[@]}"; do
		have_rust_src || RUSTUP+=("rustup component add rust-src")
		case "$t" in
		x86_64-*)
			# rust-std for the target brings the musl crt objects and libc.a.
			have_std "$t" || RUSTUP+=("rustup target add $t")
			command -v musl-gcc >/dev/null || APT+=(musl-tools)
			;;
		aarch64-*)
			have_std "$t" || RUSTUP+=("rustup target add $t")
			command -v aarch64-linux-gnu-gcc >/dev/null || APT+=(gcc-aarch64-linux-gnu)
			# Only recommended by the compiler, so --no-install-recommends leaves it out,
			# and ring's C code then fails on <bits/libc-header-start.h>.
			[ -e /usr/aarch64-linux-gnu/include/stdint.h ] || APT+=(libc6-dev-arm64-cross)
			;;
		*)
			have_zig || PIP+=("ziglang==$ZIG_VERSION")
			have_zigbuild || CARGO_INSTALL+=("cargo-zigbuild@$ZIGBUILD_VERSION")
			case "$t" in
			mips*) command -v llvm-objcopy >/dev/null || APT+=(llvm) ;;
			esac
			;;
		esac
	done
	if [ "$PACKAGES" = 1 ]; then
		command -v dpkg-deb >/dev/null || APT+=(dpkg)
	fi
	command -v git >/dev/null || [ -n "${SOURCE_DATE_EPOCH:-}" ] || APT+=(git)
	# Deduplicate each list.
	mapfile -t APT < <(printf '%s\n' "${APT[@]}" | sed '/^$/d' | sort -u)
	mapfile -t RUSTUP < <(printf '%s\n' "${RUSTUP[@]}" | sed '/^$/d' | sort -u)
	mapfile -t PIP < <(printf '%s\n' "${PIP[@]}" | sed '/^$/d' | sort -u)
	mapfile -t CARGO_INSTALL < <(printf '%s\n' "${CARGO_INSTALL[@]}" | sed '/^$/d' | sort -u)
}

install_commands() {
	[ ${#APT[@]} -eq 0 ] || echo "apt-get update && apt-get install -y --no-install-recommends ${APT[*]}"
	local r
	for r in "${RUSTUP[@]}"; do echo "$r"; done
	[ ${#PIP[@]} -eq 0 ] || echo "python3 -m pip install ${PIP[*]}"
	[ ${#CARGO_INSTALL[@]} -eq 0 ] || echo "cargo install --locked ${CARGO_INSTALL[*]}"
}

missing_tools
if [ $((${#APT[@]} + ${#RUSTUP[@]} + ${#PIP[@]} + ${#CARGO_INSTALL[@]})) -gt 0 ]; then
	if [ "$INSTALL_DEPS" = 0 ]; then
		{
			echo "build.sh: missing build tools for ${TARGETS[*]}; install them with"
			install_commands | sed 's/^/    /'
			echo "or run again with --install-deps"
		} >&2
		exit 1
	fi
	note "installing build tools"
	if [ ${#APT[@]} -gt 0 ]; then
		sudo=()
		[ "$(id -u)" = 0 ] || sudo=(sudo)
		export DEBIAN_FRONTEND=noninteractive
		"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
		"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${APT[@]}"
	fi
	for r in "${RUSTUP[@]}"; do $r; done
	[ ${#PIP[@]} -eq 0 ] || python3 -m pip install -q "${PIP[@]}"
	[ ${#CARGO_INSTALL[@]} -eq 0 ] || cargo install --locked "${CARGO_INSTALL[@]}"
	missing_tools
	if [ $((${#APT[@]} + ${#RUSTUP[@]} + ${#PIP[@]} + ${#CARGO_INSTALL[@]})) -gt 0 ]; then
		install_commands >&2
		die "tools still missing after --install-deps (see the commands above)"
	fi
fi

# ---------------------------------------------------------------- inputs
VERSION=$(pkg_version)
[ -n "$VERSION" ] || die "Cargo.toml: cannot read the package version"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) ||
		die "SOURCE_DATE_EPOCH: not set and no git history to take it from"
fi
export SOURCE_DATE_EPOCH
export TZ=UTC LC_ALL=C
umask 022

if [ "$PACKAGES" = 1 ]; then
	for f in packaging/xmpp-extauth.8 packaging/xmpp-extauth.conf README.md LICENSE-MIT LICENSE-APACHE \
		packaging/debian/changelog packaging/debian/copyright packaging/debian/lintian-overrides \
		packaging/openwrt/keep.d; do
		[ -f "$f" ] || die "$f: missing (needed by the packages; --no-packages builds binaries only)"
	done
	# The Debian changelog must describe this version, or the package lies about itself.
	top=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' packaging/debian/changelog)
	[ "${top%-*}" = "$VERSION" ] ||
		die "packaging/debian/changelog:1: top entry is '$top' but Cargo.toml says $VERSION: add an entry for $VERSION-1"
fi

mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xmpp-extauth-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Keep build-machine paths out of the binaries (they would otherwise sit in panic locations).
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
REMAP="--remap-path-prefix=$ROOT=/build/$PKG --remap-path-prefix=$CARGO_HOME_DIR=/cargo --remap-path-prefix=$SYSROOT=/rust"

# ---------------------------------------------------------------- compile
# Every target rebuilds std from rust-src (RUSTC_BOOTSTRAP=1: -Z flags on stable rustc) with
# only `optimize_for_size`, i.e. without std's default `backtrace` feature: its symbolizer
# (gimli, addr2line, miniz_oxide, ~250 KB on x86_64) serves only RUST_BACKTRACE output of a
# panic, which this helper must never have anyway (panic = "abort"; messages still print).
# x86_64 full build 1.86 MB -> 1.60 MB, file-only 615 KB -> 379 KB (rustc 1.95).
BUILD_STD=(-Z build-std=std,panic_abort -Z build-std-features=optimize_for_size)
# No unwind tables for Rust code: with panic = "abort" and no backtrace symbolizer (above),
# nothing reads .eh_frame; panic messages still print. Only debuggers and profilers unwinding
# a core of this stripped binary miss it. x86_64 full build 1,628,552 -> 1,456,520 bytes.
NO_UNWIND="-C force-unwind-tables=no"
# Relative relocations in the compact RELR format (DT_RELR) instead of 24-byte RELA entries:
# a static-pie applies its own relocations at start-up (musl 1.2.4+ rcrt1, which rust-std's
# self-contained musl is), ~2,500 vtable and table pointers. x86_64 -57,272 bytes. Only for
# x86_64: aarch64 (rust-lld called directly) links a non-PIE static executable, which has no
# relative relocations to pack.
RELR="-C link-arg=-Wl,-z,pack-relative-relocs"

# cargo_build TRIPLE FEATURE-ARGS... : builds target/TRIPLE/release/xmpp-extauth
cargo_build() {
	local t=$1
	shift
	case "$t" in
	x86_64-unknown-linux-musl)
		# ring's build script needs musl-gcc (Debian musl-tools); static-pie result.
		RUSTC_BOOTSTRAP=1 RUSTFLAGS="$REMAP $NO_UNWIND $RELR" \
			cargo build --locked --release --target "$t" "${BUILD_STD[@]}" "$@"
		;;
	aarch64-unknown-linux-musl)
		# ring's C with the Debian cross gcc, link with the rust-lld shipped with rustc.
		# musl's printf needs the 128-bit long double helpers (__addtf3, ...) that the
		# compiler_builtins of a build-std build lacks here: take them from the cross libgcc.
		CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc \
			AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar \
			CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
			RUSTC_BOOTSTRAP=1 RUSTFLAGS="$REMAP $NO_UNWIND -C link-arg=$(aarch64-linux-gnu-gcc -print-libgcc-file-name)" \
			cargo build --locked --release --target "$t" "${BUILD_STD[@]}" "$@"
		;;
	armv7-unknown-linux-musleabihf)
		# No rust-std from rustup here (so no crt objects): zig is C compiler, libc and crt.
		RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C link-self-contained=no $REMAP $NO_UNWIND" \
			cargo zigbuild --locked --release --target "$t" "${BUILD_STD[@]}" "$@"
		;;
	mipsel-unknown-linux-musl | mips-unknown-linux-musl)
		# As armv7, plus +crt-static: these targets link dynamically by default (for OpenWrt's libc.so).
		RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C link-self-contained=no -C target-feature=+crt-static $REMAP $NO_UNWIND" \
			cargo zigbuild --locked --release --target "$t" "${BUILD_STD[@]}" "$@"
		;;
	esac
}

# install_binary TRIPLE OUT: the binary just built, into OUT. On MIPS, LLVM writes a .pdr
# section (procedure descriptors for old debuggers: never loaded, ~150 KB) that strip keeps;
# llvm-objcopy drops it (mipsel full build 1,618,264 -> 1,466,956 bytes).
install_binary() {
	install -m 0755 "target/$1/release/$PKG" "$2"
	case "$1" in
	mips*) llvm-objcopy --remove-section=.pdr "$2" ;;
	esac
	touch -d "@$SOURCE_DATE_EPOCH" "$2"
}

build_target() {
	local t=$1 start
	start=$(date +%s)
	if [ "$SMALL" = 1 ]; then
		note "$t: file-only build (--no-default-features)"
		cargo_build "$t" --no-default-features
		install_binary "$t" "$DIST/$(binary_name "$t" file-only)"
	fi
	note "$t: full build (default features)"
	cargo_build "$t"
	install_binary "$t" "$DIST/$(binary_name "$t")"
	note "$t: built in $(($(date +%s) - start)) s"
}

# ---------------------------------------------------------------- .deb
# dpkg's Installed-Size: KiB rounded up per file, plus 1 per directory or link.
installed_size_kib() {
	find "$1" -mindepth 1 -path "$1/DEBIAN" -prune -o \( -type f -printf '%s\n' \) -o -printf '1024\n' |
		awk '$0!="" { s += int(($1 + 1023) / 1024) } END { print s + 0 }'
}

# Every crate linked into the binary for TRIPLE with its licence, one "name version: licence" a line.
bundled_crates() { # TRIPLE [cargo-tree-args...]
	local t=$1
	shift
	cargo tree --locked --offline -e normal --target "$t" --prefix none --format '{p}: {l}' "$@" |
		sed -e 's/ (\*)$//' -e 's/ (proc-macro)//' | grep -v "^$PKG v" | sed 's/^\([^ ]*\) v/\1 /' | sort -u
}

debian_changelog() { # DEB-VERSION -> stdout (uncompressed)
	local v=$1 top
	top=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' packaging/debian/changelog)
	if [ "$v" != "$top" ]; then
		# A rebuild at another revision gets its own entry, so the package never claims
		# a version its changelog does not list.
		printf '%s (%s) unstable; urgency=medium\n\n  * Rebuild of %s as revision %s by packaging/build.sh.\n\n -- %s  %s\n\n' \
			"$PKG" "$v" "$top" "${v##*-}" "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	fi
	cat packaging/debian/changelog
}

make_deb() { # TRIPLE DEB-ARCH
	local t=$1 arch=$2 v="$VERSION-$REVISION" st="$WORK/deb-$2" doc out crates
	doc="$st/usr/share/doc/$PKG"
	rm -rf "$st"
	mkdir -p "$st/DEBIAN" "$st/usr/bin" "$st/usr/share/man/man8" "$doc" \
		"$st/usr/share/lintian/overrides" "$st/etc/$PKG"
	install -m 0755 "$DIST/$(binary_name "$t")" "$st/usr/bin/$PKG"
	gzip -9n <packaging/xmpp-extauth.8 >"$st/usr/share/man/man8/$PKG.8.gz"
	gzip -9n <README.md >"$doc/README.md.gz"
	debian_changelog "$v" | gzip -9n >"$doc/changelog.Debian.gz"
	crates=$(bundled_crates "$t" | sed 's/^/ /')
	awk -v crates="$crates" '$0 == " @BUNDLED_CRATES@" { print crates; next } { print }' \
		packaging/debian/copyright >"$doc/copyright"
	install -m 0644 packaging/debian/lintian-overrides "$st/usr/share/lintian/overrides/$PKG"
	install -m 0644 packaging/xmpp-extauth.conf "$st/etc/$PKG.conf"
	chmod 0644 "$st/usr/share/man/man8/$PKG.8.gz" "$doc"/*
	chmod 0750 "$st/etc/$PKG"

	echo "/etc/$PKG.conf" >"$st/DEBIAN/conffiles"
	# md5sums of everything but conffiles (dpkg tracks those itself), as dh_md5sums does.
	(cd "$st" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sed 's|^\./||' |
		sort | xargs md5sum) >"$st/DEBIAN/md5sums"
	cat >"$st/DEBIAN/control" <<EOF
Package: $PKG
Version: $v
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: $(installed_size_kib "$st")
Recommends: ca-certificates
Enhances: ejabberd, prosody
Section: net
Priority: optional
Description: external authentication helper for Prosody and ejabberd
 xmpp-extauth answers the external authentication requests of Prosody
 (mod_auth_external) and ejabberd (extauth) from a file of salted
 SHA-crypt password hashes, or from an HTTP API (the mod_auth_http
 protocol, over HTTPS with the system CA bundle).
 .
 It is a single static binary with no runtime: it answers in
 microseconds, never prints anything but protocol replies while
 serving, never logs passwords, and fails closed on any error or
 timeout. Installing the package creates no accounts and starts
 nothing; see /usr/share/doc/xmpp-extauth/README.md.gz and
 xmpp-extauth(8) for wiring it into the XMPP server.
EOF
	chmod 0644 "$st/DEBIAN/"*
	find "$st" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	out="$DIST/${PKG}_${v}_${arch}.deb"
	dpkg-deb --root-owner-group -Zxz -z9 --build "$st" "$out" >/dev/null
	note "$(basename "$out"): $(stat -c %s "$out") bytes"
}

# ---------------------------------------------------------------- .ipk
# OpenWrt's layout (scripts/ipkg-build): a gzip'd tar (not ar: opkg since 2017 reads only
# tar.gz) of ./debian-binary, ./data.tar.gz, ./control.tar.gz.
TAR=(tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$SOURCE_DATE_EPOCH")

make_ipk() { # TRIPLE OPENWRT-ARCH
	local t=$1 arch=$2 v="$VERSION-r$REVISION" st="$WORK/ipk-$2" out
	rm -rf "$st"
	mkdir -p "$st/data/usr/bin" "$st/data/etc/$PKG" "$st/data/lib/upgrade/keep.d" "$st/control"
	install -m 0755 "$DIST/$(binary_name "$t")" "$st/data/usr/bin/$PKG"
	install -m 0644 packaging/xmpp-extauth.conf "$st/data/etc/$PKG.conf"
	chmod 0750 "$st/data/etc/$PKG"
	# sysupgrade keeps /etc/config and changed conffiles only: without this line a firmware
	# upgrade would silently drop the users file and every XMPP login would fail.
	install -m 0644 packaging/openwrt/keep.d "$st/data/lib/upgrade/keep.d/$PKG"
	(cd "$st/data" && "${TAR[@]}" -cf - .) | gzip -9n >"$st/data.tar.gz"

	# Field order as OpenWrt's package-ipkg.mk writes it; Installed-Size in bytes of the data tar.
	cat >"$st/control/control" <<EOF
Package: $PKG
Version: $v
Depends: ca-bundle
Source: $PKG
SourceName: $PKG
License: MIT OR Apache-2.0
LicenseFiles: LICENSE-MIT LICENSE-APACHE
Section: net
SourceDateEpoch: $SOURCE_DATE_EPOCH
Maintainer: $MAINTAINER
Architecture: $arch
Installed-Size: $(gzip -dc "$st/data.tar.gz" | wc -c)
Description: External authentication helper for Prosody and ejabberd: checks logins
 against a file of SHA-crypt hashes or an HTTP API. Static binary; sample config
 in /etc/xmpp-extauth.conf, users in /etc/xmpp-extauth/users.
EOF
	echo "/etc/$PKG.conf" >"$st/control/conffiles"
	# The fixed wrappers every OpenWrt package carries; there is no package-specific logic
	# (no users to create, no service to start).
	cat >"$st/control/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
EOF
	cat >"$st/control/prerm" <<'EOF'
#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
EOF
	chmod 0644 "$st/control/control" "$st/control/conffiles"
	chmod 0755 "$st/control/postinst" "$st/control/prerm"
	(cd "$st/control" && "${TAR[@]}" -cf - .) | gzip -9n >"$st/control.tar.gz"
	echo 2.0 >"$st/debian-binary"
	out="$DIST/${PKG}_${v}_${arch}.ipk"
	(cd "$st" && "${TAR[@]}" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -9n >"$out"
	note "$(basename "$out"): $(stat -c %s "$out") bytes"
}

# ---------------------------------------------------------------- summary
write_summary() {
	local t f full small
	{
		echo "# xmpp-extauth $VERSION static binaries (stripped, opt-level s)"
		echo
		echo "Last build: $(date -u '+%Y-%m-%d %H:%M UTC') (\`$COMMAND\`) with $(rustc -V | cut -d' ' -f1-2)" \
			"(std rebuilt, optimize_for_size), source commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
		echo
		echo "| target | full (default features) | file-only (--no-default-features) |"
		echo "|---|---:|---:|"
		for t in "${ALL_TARGETS[@]}"; do
			f="$DIST/$(binary_name "$t")"
			[ -f "$f" ] || continue
			full=$(stat -c %s "$f")
			small=-
			[ -f "$DIST/$(binary_name "$t" file-only)" ] &&
				small=$(stat -c %s "$DIST/$(binary_name "$t" file-only)")
			printf '| %s | %s | %s |\n' "$t" "$(human "$full")" "$(human "$small")"
		done
	} >"$DIST/SIZES.md"
	(cd "$DIST" && find . -maxdepth 1 -type f \( -name "$PKG-$VERSION-*" -o -name "${PKG}_*.deb" -o -name "${PKG}_*.ipk" \) \
		-printf '%f\n' | sort | xargs -r sha256sum) >"$DIST/SHA256SUMS"
}
human() { # bytes -> "1,234,567 B (1205.6 KiB)"
	if [ "$1" = - ]; then
		echo -
		return
	fi
	awk -v b="$1" 'BEGIN { s = sprintf("%d", b); o = ""
		while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		printf "%s%s B (%.1f KiB)", s, o, b / 1024 }'
}

# ---------------------------------------------------------------- main
note "xmpp-extauth $VERSION, revision $REVISION, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, into $DIST"
T0=$(date +%s)
for t in "${TARGETS[@]}"; do
	build_target "$t"
	if [ "$PACKAGES" = 1 ]; then
		a=$(deb_arch "$t")
		[ -z "$a" ] || make_deb "$t" "$a"
		for a in $(ipk_archs "$t"); do make_ipk "$t" "$a"; done
	fi
done
write_summary
cat "$DIST/SIZES.md" >&2
note "done in $(($(date +%s) - T0)) s; checksums in $DIST/SHA256SUMS"
