# Shared by packaging/build.sh and packaging/test.sh (sourced, not run): the target table
# and the package's identity, so that the builder and the tests cannot disagree.

readonly PKG=xmpp-extauth
readonly ALL_TARGETS=(
	x86_64-unknown-linux-musl
	aarch64-unknown-linux-musl
	armv7-unknown-linux-musleabihf
	mipsel-unknown-linux-musl
	mips-unknown-linux-musl
)

# Debian architecture of a triple (empty: no .deb for it).
deb_arch() {
	case "$1" in
	x86_64-*) echo amd64 ;;
	aarch64-*) echo arm64 ;;
	esac
}

# OpenWrt architecture names of a triple: one .ipk each (opkg matches them exactly).
ipk_archs() {
	case "$1" in
	x86_64-*) echo x86_64 ;;
	aarch64-*) echo aarch64_cortex-a53 aarch64_generic ;;
	armv7-*) echo arm_cortex-a7_neon-vfpv4 ;;
	mipsel-*) echo mipsel_24kc ;;
	mips-*) echo mips_24kc ;;
	esac
}

# The version in Cargo.toml.
pkg_version() {
	local id
	id=$(cargo pkgid --offline 2>/dev/null || cargo pkgid) || return 1
	echo "${id##*[#@]}"
}

# The static binaries build.sh leaves in DIST: binary_name TRIPLE [file-only]
binary_name() {
	echo "$PKG-$VERSION-$1${2:+-$2}"
}
