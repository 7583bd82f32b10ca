#!/usr/bin/env bash
# make release: cross-compile static edgerag binaries for the edge targets,
# with the version, commit and date embedded (`edgerag version`), and write
# their SHA-256 sums.
#
# Output, in $DIST (default dist/), one plain binary per target (no tarballs:
# a device needs one file, and scripts/install.sh installs it from there):
#
#   edgerag-<version>-linux-amd64
#   edgerag-<version>-linux-arm64
#   edgerag-<version>-linux-armv7     (GOARCH=arm GOARM=7)
#   SHA256SUMS                        (sha256sum format: `cd dist && sha256sum -c SHA256SUMS`)
#
# Earlier edgerag-*-linux-* binaries in $DIST are removed so that it holds one
# coherent release. Nothing in $DIST changes unless every target builds.
#
# Environment (all optional):
#   VERSION  default: git describe --tags --always --dirty (else "dev")
#   COMMIT   default: git rev-parse --short HEAD (else "none")
#   DATE     default: now, UTC, RFC 3339 (or SOURCE_DATE_EPOCH if set)
#   DIST     output directory, default dist
#   ARCHES   targets, default "amd64 arm64 armv7"
#   GO       the go command, default go
set -euo pipefail

die() { echo "release: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo none)}
if [ -z "${DATE:-}" ]; then
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
	else
		DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	fi
fi
DIST=${DIST:-dist}
ARCHES=${ARCHES:-amd64 arm64 armv7}

[[ $VERSION =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] ||
	die "VERSION '$VERSION' is not usable in a file name (letters, digits, . _ + - only)"
[[ $COMMIT =~ ^[A-Za-z0-9._+-]+$ ]] || die "COMMIT '$COMMIT' has unexpected characters"
[[ $DATE =~ ^[0-9A-Za-z:.+-]+$ ]] || die "DATE '$DATE' has unexpected characters"
for arch in $ARCHES; do
	case $arch in
	amd64 | arm64 | armv7) ;;
	*) die "unknown target '$arch' in ARCHES (use amd64, arm64, armv7)" ;;
	esac
done
command -v "$GO" >/dev/null 2>&1 || die "'$GO' not found: install Go 1.26 or set GO=/path/to/go"

if command -v sha256sum >/dev/null 2>&1; then
	sha256() { sha256sum "$@"; }
elif command -v shasum >/dev/null 2>&1; then
	sha256() { shasum -a 256 "$@"; }
else
	die "neither sha256sum nor shasum found"
fi

ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE"
hostarch=$("$GO" env GOHOSTARCH)
hostos=$("$GO" env GOHOSTOS)

mkdir -p "$DIST"
stage=$(mktemp -d "$DIST/.release.XXXXXX")
trap 'rm -rf "$stage"' EXIT

echo "release: edgerag $VERSION (commit $COMMIT, built $DATE) -> $DIST/"
built=()
for arch in $ARCHES; do
	case $arch in
	amd64) goenv=(GOARCH=amd64 GOAMD64=v1) want=(GOARCH=amd64) ;;
	arm64) goenv=(GOARCH=arm64 GOARM64=v8.0) want=(GOARCH=arm64) ;;
	armv7) goenv=(GOARCH=arm GOARM=7) want=(GOARCH=arm GOARM=7) ;;
	*) die "unknown target '$arch' in ARCHES (use amd64, arm64, armv7)" ;;
	esac
	name="edgerag-$VERSION-linux-$arch"
	out="$stage/$name"
	echo "release: building $name"
	if ! env CGO_ENABLED=0 GOOS=linux "${goenv[@]}" "$GO" build -trimpath -ldflags "$ldflags" -o "$out" .; then
		die "go build failed for linux/$arch (nothing in $DIST was changed)"
	fi

	# The binary must say it is what we asked for: static (no cgo), the
	# right architecture, and the version stamped in.
	info=$("$GO" version -m "$out") || die "go version -m $name failed"
	for kv in CGO_ENABLED=0 GOOS=linux "${want[@]}"; do
		grep -q "build[[:space:]]$kv\$" <<<"$info" || die "$name: expected build setting $kv, got:
$info"
	done
	# (-trimpath keeps -ldflags out of the build info: look for the string.)
	grep -qaF -- "$VERSION" "$out" || die "$name: version '$VERSION' not embedded"
	if [ "$hostos" = linux ] && [ "${want[0]#GOARCH=}" = "$hostarch" ]; then
		got=$("$out" version) || die "$name version failed"
		[ "$got" = "edgerag $VERSION (commit $COMMIT, built $DATE)" ] ||
			die "$name version printed '$got'"
	fi
	built+=("$name")
done

# Every target built: replace the previous release in $DIST.
rm -f "$DIST"/edgerag-*-linux-* "$DIST/SHA256SUMS"
for name in "${built[@]}"; do
	mv "$stage/$name" "$DIST/$name"
done
(cd "$DIST" && sha256 "${built[@]}" >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
(cd "$DIST" && sha256 -c --quiet SHA256SUMS) || die "SHA256SUMS does not verify"

echo
echo "release: $DIST/SHA256SUMS"
sed 's/^/  /' "$DIST/SHA256SUMS"
echo
printf '%-7s %12s %9s  %s\n' target bytes MiB file
for name in "${built[@]}"; do
	bytes=$(wc -c <"$DIST/$name" | tr -d ' ')
	printf '%-7s %12s %9s  %s\n' "${name##*-linux-}" "$bytes" \
		"$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')" "$DIST/$name"
done
