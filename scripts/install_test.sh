#!/usr/bin/env bash
# Tests of scripts/install.sh and scripts/release.sh, without systemd and
# without touching the machine: every install goes into a scratch root
# (DESTDIR), or, as root, into a private mount namespace. Runs shellcheck on
# every script in scripts/, installs the real binary, runs the unit's
# ExecStart, and checks files, modes, owners, the unit's hardening
# (systemd-analyze verify and security, when installed), upgrade, SHA-256
# refusal, architecture detection, memory sizing, uninstall and purge.
#
#   scripts/install_test.sh        prints "install tests: N passed, M failed"
#
# Environment: INSTALL_TEST_BIN=bin/edgerag tests that binary instead of
# building one (make test passes it); INSTALL_TEST_REQUIRE_SHELLCHECK=1 fails
# instead of skipping when shellcheck is missing (for CI); KEEP=1 keeps the
# scratch directory.
#
# The checks pass small programs to bash -c in single quotes, on purpose:
# shellcheck disable=SC2016
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
install_sh=$root/scripts/install.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgerag-install-test.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
	trap 'echo "kept $tmp"' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi

passed=0 failed=0 skipped=0
ok() {
	passed=$((passed + 1))
	echo "ok    $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL  $1"
	if [ -n "${2:-}" ]; then while IFS= read -r l; do echo "      | $l"; done <<<"$2"; fi
}
skip() {
	skipped=$((skipped + 1))
	echo "skip  $1"
}
# check DESC CMD...: pass if CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}
as_root() { [ "$(id -u)" = 0 ]; }

# run_install DESTDIR ARGS...: run install.sh with POSIX sh; output in $out, status in $rc.
run_install() {
	local d=$1
	shift
	out=$(DESTDIR=$d PATH=${fakepath:+$fakepath:}$PATH EDGERAG_MEMINFO=${meminfo:-/proc/meminfo} sh "$install_sh" "$@" 2>&1)
	rc=$?
}

mode_of() { stat -c %a "$1"; }
owner_of() { stat -c %u:%g "$1"; }

case $(uname -m) in
x86_64) host=amd64 ;;
aarch64) host=arm64 ;;
armv7* | armv8l) host=armv7 ;;
*)
	echo "install tests: unsupported test machine $(uname -m)"
	exit 1
	;;
esac

# ---- shellcheck -------------------------------------------------------------

if command -v shellcheck >/dev/null 2>&1; then
	for f in "$root"/scripts/*.sh; do
		if res=$(shellcheck "$f" 2>&1); then ok "shellcheck ${f#"$root"/}"; else fail "shellcheck ${f#"$root"/}" "$res"; fi
	done
elif [ "${INSTALL_TEST_REQUIRE_SHELLCHECK:-}" = 1 ]; then
	fail "shellcheck is not installed (apt-get install shellcheck)"
else
	skip "shellcheck: not installed (apt-get install shellcheck)"
fi
if res=$(sh -n "$install_sh" 2>&1); then ok "install.sh parses with $(readlink -f "$(command -v sh)")"; else fail "sh -n install.sh" "$res"; fi

# ---- release directories ------------------------------------------------------

# The first release holds the real binary: $INSTALL_TEST_BIN (make test
# passes bin/edgerag, which 'make build' just made), else one built here; a
# stand-in script if Go is missing or the tree does not build. The second
# release, for the upgrade, holds a stand-in: install.sh only runs 'version'.
standin() {
	printf '#!/bin/sh\n[ "$1" = version ] && echo "edgerag %s (commit itest, built 2026-01-01T00:00:00Z)"\n' "$1" >"$2"
	chmod 0755 "$2"
}
real=yes
if [ -n "${INSTALL_TEST_BIN:-}" ]; then
	case $INSTALL_TEST_BIN in /*) ;; *) INSTALL_TEST_BIN=$PWD/$INSTALL_TEST_BIN ;; esac
	v1=$("$INSTALL_TEST_BIN" version 2>/dev/null | awk '$1 == "edgerag" { print $2 }')
	if [ -z "$v1" ]; then
		echo "install tests: INSTALL_TEST_BIN=$INSTALL_TEST_BIN does not run 'version'"
		exit 1
	fi
	cp "$INSTALL_TEST_BIN" "$tmp/edgerag"
	built="using $INSTALL_TEST_BIN ($v1)"
else
	v1=0.9.0-itest
	if command -v go >/dev/null 2>&1 &&
		(cd "$root" && CGO_ENABLED=0 go build -trimpath \
			-ldflags "-s -w -X main.version=$v1 -X main.commit=itest -X main.date=2026-01-01T00:00:00Z" \
			-o "$tmp/edgerag" .) >"$tmp/build.log" 2>&1; then
		built="built the real binary for linux/$host (go build)"
	else
		command -v go >/dev/null 2>&1 || echo "go is not installed" >"$tmp/build.log"
		real=no
		standin "$v1" "$tmp/edgerag"
	fi
fi
v2=$v1-up
[ ${#v2} -lt 60 ] || v2=0.9.1-itest

# release DIR VERSION BINARY: DIR with BINARY for this machine, junk for the
# other architectures, and SHA256SUMS.
release() {
	local dir=$1 v=$2 a
	mkdir -p "$dir"
	for a in amd64 arm64 armv7; do
		if [ "$a" = "$host" ]; then
			cp "$3" "$dir/edgerag-$v-linux-$a"
		else
			printf 'not a %s binary\n' "$a" >"$dir/edgerag-$v-linux-$a"
		fi
	done
	(cd "$dir" && sha256sum edgerag-* >SHA256SUMS)
}

rel1=$tmp/rel1
rel2=$tmp/rel2
standin "$v2" "$tmp/edgerag-v2"
release "$rel1" "$v1" "$tmp/edgerag"
release "$rel2" "$v2" "$tmp/edgerag-v2"
if [ "$real" = yes ]; then
	ok "$built"
else
	skip "go build failed: testing with a stand-in binary ($(tail -n 3 "$tmp/build.log" | tr '\n' ' '))"
fi

# ---- a first install ----------------------------------------------------------

d=$tmp/root1
mkdir -p "$d"
run_install "$d" --from "$rel1" --memory-max 512M
if [ "$rc" = 0 ]; then ok "install into DESTDIR"; else fail "install into DESTDIR (exit $rc)" "$out"; fi

bin=$d/usr/local/bin/edgerag
env=$d/etc/edgerag/edgerag.env
unit=$d/etc/systemd/system/edgerag.service
data=$d/var/lib/edgerag

check "binary installed with mode 0755" test "$(mode_of "$bin" 2>/dev/null)" = 755
check "installed binary runs 'version'" grep -q "^edgerag $v1 (commit " <<<"$("$bin" version 2>&1)"
check "/etc/edgerag is 0750" test "$(mode_of "$d/etc/edgerag" 2>/dev/null)" = 750
check "edgerag.env is 0640" test "$(mode_of "$env" 2>/dev/null)" = 640
check "/var/lib/edgerag is 0750" test "$(mode_of "$data" 2>/dev/null)" = 750
check "unit is 0644" test "$(mode_of "$unit" 2>/dev/null)" = 644

pw=$(grep '^edgerag:' "$d/etc/passwd" 2>/dev/null)
uid=$(cut -d: -f3 <<<"$pw")
gid=$(cut -d: -f4 <<<"$pw")
check "system user edgerag in DESTDIR/etc/passwd (uid $uid, no login, home /var/lib/edgerag)" \
	bash -c '[[ $1 =~ ^edgerag:x:[0-9]+:[0-9]+:[^:]*:/var/lib/edgerag:(/usr/sbin/nologin|/sbin/nologin|/bin/false)$ ]] && [ "$2" -ge 100 ] && [ "$2" -lt 1000 ]' _ "$pw" "$uid"
check "group edgerag in DESTDIR/etc/group" grep -qx "edgerag:x:$gid:" "$d/etc/group"
if as_root; then
	check "binary owned by root:root" test "$(owner_of "$bin")" = 0:0
	check "/etc/edgerag and edgerag.env owned by root:edgerag" test "$(owner_of "$d/etc/edgerag") $(owner_of "$env")" = "0:$gid 0:$gid"
	check "/var/lib/edgerag owned by edgerag:edgerag" test "$(owner_of "$data")" = "$uid:$gid"
	check "unit owned by root:root" test "$(owner_of "$unit")" = 0:0
else
	skip "owners (not root)"
fi

check "edgerag.env: EDGERAG_HTTP=127.0.0.1:8080" grep -qx 'EDGERAG_HTTP=127.0.0.1:8080' "$env"
check "edgerag.env: EDGERAG_DATA=/var/lib/edgerag" grep -qx 'EDGERAG_DATA=/var/lib/edgerag' "$env"
conf=$d/etc/edgerag/edgerag.toml
check "edgerag.toml is 0640" test "$(mode_of "$conf" 2>/dev/null)" = 640
if as_root; then
	check "edgerag.toml owned by root:edgerag" test "$(owner_of "$conf")" = "0:$gid"
fi
if [ "$real" = yes ]; then
	check "edgerag config check accepts the installed edgerag.toml" bash -c '"$1" config check "$2" >/dev/null' _ "$bin" "$conf"
else
	skip "edgerag config check of edgerag.toml (stand-in binary)"
fi

want_unit=(
	'Type=simple'
	'User=edgerag'
	'Group=edgerag'
	'EnvironmentFile=/etc/edgerag/edgerag.env'
	'ExecStart=/usr/local/bin/edgerag serve --config /etc/edgerag/edgerag.toml --data ${EDGERAG_DATA} --http ${EDGERAG_HTTP} $EDGERAG_OPTS'
	'Restart=on-failure'
	'RestartSec=2'
	'NoNewPrivileges=yes'
	'ProtectSystem=strict'
	'ProtectHome=yes'
	'ReadWritePaths=/var/lib/edgerag'
	'PrivateTmp=yes'
	'PrivateDevices=yes'
	'ProtectKernelTunables=yes'
	'ProtectKernelModules=yes'
	'ProtectControlGroups=yes'
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'
	'RestrictNamespaces=yes'
	'LockPersonality=yes'
	'MemoryDenyWriteExecute=yes'
	'SystemCallArchitectures=native'
	'CapabilityBoundingSet='
	'AmbientCapabilities='
	'MemoryMax=512M'
	'MemoryHigh=460M'
	'Environment=GOMEMLIMIT=409MiB'
	'TimeoutStopSec=15'
	'KillSignal=SIGTERM'
	'LimitNOFILE=65536'
	'WantedBy=multi-user.target'
)
missing=
for line in "${want_unit[@]}"; do
	grep -qxF -- "$line" "$unit" 2>/dev/null || missing+="$line"$'\n'
done
if [ -z "$missing" ]; then ok "unit has all ${#want_unit[@]} required directives"; else fail "unit lacks directives" "$missing"; fi

# systemd-analyze checks the unit offline; ExecStart must exist on this
# machine, so it checks a copy that points at the scratch binary.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/verify"
	sed "s|^ExecStart=/usr/local/bin/edgerag |ExecStart=$bin |" "$unit" >"$tmp/verify/edgerag.service"
	res=$(systemd-analyze verify "$tmp/verify/edgerag.service" 2>&1)
	vrc=$?
	if [ "$vrc" = 0 ] && [ -z "$res" ]; then
		ok "systemd-analyze verify: no errors or warnings"
	elif grep -q 'sysinit.target not found\|Failed to initialize manager\|Failed to connect' <<<"$res"; then
		skip "systemd-analyze verify cannot run here: $(head -n 1 <<<"$res")"
	else
		fail "systemd-analyze verify (exit $vrc)" "$res"
	fi
	if sec=$(systemd-analyze security --offline=true "$tmp/verify/edgerag.service" 2>/dev/null); then
		level=$(sed -n 's/.*Overall exposure level for edgerag.service: \([0-9.]*\).*/\1/p' <<<"$sec")
		check "systemd-analyze security: exposure $level (below 2.0)" awk -v l="$level" 'BEGIN { exit !(l != "" && l < 2.0) }'
	else
		skip "systemd-analyze security --offline (needs systemd 250+)"
	fi
else
	skip "systemd-analyze not installed (apt-get install systemd)"
fi

# Run the unit's ExecStart the way systemd would (its defaults, then the
# environment file; ${VAR} is one word, $VAR splits), on the scratch data
# directory and a free port; SIGTERM must stop it cleanly within TimeoutStopSec.
if [ "$real" = yes ]; then
	if (
		set -e
		# shellcheck disable=SC2034 # read by the ${!w} lookups below
		EDGERAG_OPTS='' GOMEMLIMIT=
		while IFS= read -r l; do
			case $l in EDGERAG_*=* | GOMEMLIMIT=*) export "${l%%=*}=${l#*=}" ;; esac
		done < <(sed -n 's/^Environment=GOMEMLIMIT=/GOMEMLIMIT=/p' "$unit"; grep -v '^#' "$env")
		read -ra words <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
		argv=()
		for w in "${words[@]}"; do
			case $w in
			/usr/local/bin/edgerag) argv+=("$bin") ;;
			/etc/edgerag/edgerag.toml) argv+=("$d$w") ;;
			'${EDGERAG_DATA}') argv+=("$d$EDGERAG_DATA") ;;
			'${EDGERAG_HTTP}') argv+=(127.0.0.1:0) ;;
			'$EDGERAG_OPTS') read -ra opts <<<"$EDGERAG_OPTS" && argv+=("${opts[@]}") ;;
			*) argv+=("$w") ;;
			esac
		done
		"${argv[@]}" --ready-file "$tmp/ready" 2>"$tmp/serve.log" &
		pid=$!
		for _ in $(seq 100); do
			[ -s "$tmp/ready" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		[ -s "$tmp/ready" ] || { echo "not ready; log:" && cat "$tmp/serve.log" && exit 1; }
		url=$(head -n 1 "$tmp/ready")
		# The API needs a token: the node wrote its admin token into its data
		# directory on first start, where an operator would read it.
		token=$(cat "$d$EDGERAG_DATA/admin.token")
		curl -fsS -H "Authorization: Bearer $token" "$url/v1/status" >/dev/null || { echo "GET $url/v1/status failed" && exit 1; }
		kill -TERM "$pid"
		for _ in $(seq 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
			echo "still running 15 s after SIGTERM"
			exit 1
		fi
		wait "$pid" || { echo "exit status $? after SIGTERM" && exit 1; }
		head -n 1 "$tmp/serve.log" | grep -q '^{' || { echo "log is not JSON:" && head -n 3 "$tmp/serve.log" && exit 1; }
		[ "$GOMEMLIMIT" = 409MiB ] || { echo "GOMEMLIMIT=$GOMEMLIMIT" && exit 1; }
	) >"$tmp/smoke.out" 2>&1
	then
		ok "the unit's ExecStart serves on the data dir (JSON log from edgerag.toml, GOMEMLIMIT) and stops on SIGTERM"
	else
		fail "the unit's ExecStart" "$(cat "$tmp/smoke.out")"
	fi
else
	skip "ExecStart smoke test (stand-in binary)"
fi

# ---- upgrade: new binary, config and data kept ------------------------------

echo "# edited by the operator" >>"$env"
cp "$env" "$tmp/env.before"
echo "# edited by the operator" >>"$conf"
cp "$conf" "$tmp/conf.before"
echo "precious" >"$data/keep"
run_install "$d" --from "$rel2" --memory-max 1G
if [ "$rc" = 0 ]; then ok "second install (upgrade) succeeds"; else fail "second install (exit $rc)" "$out"; fi
check "upgrade replaced the binary ($v2)" grep -q "^edgerag $v2 " <<<"$("$bin" version 2>&1)"
check "upgrade kept edgerag.env as edited" cmp -s "$env" "$tmp/env.before"
check "upgrade kept edgerag.toml as edited" cmp -s "$conf" "$tmp/conf.before"
check "upgrade kept the data" grep -qx precious "$data/keep"
check "upgrade regenerated the unit (MemoryMax=1024M, GOMEMLIMIT=819MiB)" \
	bash -c 'grep -qx "MemoryMax=1024M" "$1" && grep -qx "Environment=GOMEMLIMIT=819MiB" "$1"' _ "$unit"
check "upgrade did not add the user twice" test "$(grep -c '^edgerag:' "$d/etc/passwd") $(grep -c '^edgerag:' "$d/etc/group")" = "1 1"
check "no staging files left next to the binary" test "$(find "$d/usr/local/bin" -type f | wc -l)" = 1

run_install "$d" --from "$rel2" --http 0.0.0.0:9090
check "--http on an upgrade sets EDGERAG_HTTP and keeps the rest of edgerag.env" \
	bash -c 'grep -qx "EDGERAG_HTTP=0.0.0.0:9090" "$1" && ! grep -q "^EDGERAG_HTTP=127" "$1" && grep -qx "# edited by the operator" "$1"' _ "$env"
check "an upgrade without --memory-max keeps the unit's MemoryMax=1024M" grep -qx 'MemoryMax=1024M' "$unit"
if as_root; then
	check "edgerag.env still root:edgerag 0640 after the edit" test "$(owner_of "$env") $(mode_of "$env")" = "0:$gid 640"
fi

# ---- refusals -------------------------------------------------------------------

bad=$tmp/bad
cp -r "$rel1" "$bad"
printf 'x' >>"$bad/edgerag-$v1-linux-$host"
d2=$tmp/root2
mkdir -p "$d2"
run_install "$d2" --from "$bad"
check "SHA-256 mismatch is refused with a clear message" \
	bash -c '[ "$1" != 0 ] && grep -q "SHA-256 mismatch for .*edgerag-.*-linux-'"$host"'.*refusing to install" <<<"$2"' _ "$rc" "$out"
check "nothing was installed after the mismatch" test -z "$(ls -A "$d2")"

rm "$bad/SHA256SUMS"
run_install "$d2" --from "$bad"
check "a release directory without SHA256SUMS is refused" bash -c '[ "$1" != 0 ] && grep -q "no SHA256SUMS" <<<"$2"' _ "$rc" "$out"

run_install "$d2" --from "$tmp/nowhere"
check "a missing release directory is refused" bash -c '[ "$1" != 0 ] && grep -q "not found" <<<"$2"' _ "$rc" "$out"

both=$tmp/both
mkdir -p "$both"
cp "$rel1"/edgerag-* "$rel2"/edgerag-* "$both"
(cd "$both" && sha256sum edgerag-* >SHA256SUMS)
run_install "$d2" --from "$both" --dry-run
check "two releases in one directory need --version" bash -c '[ "$1" != 0 ] && grep -q "pick one with --version" <<<"$2"' _ "$rc" "$out"
run_install "$d2" --from "$both" --version "$v1" --dry-run
check "--version picks one of them" bash -c '[ "$1" = 0 ] && grep -q "installing edgerag '"$v1"' (linux-'"$host"')" <<<"$2"' _ "$rc" "$out"

run_install "$d2" --from "$rel1" --memory-max lots
check "--memory-max lots is refused" bash -c '[ "$1" != 0 ] && grep -q "use a size like" <<<"$2"' _ "$rc" "$out"
run_install "$d2" --from "$rel1" --http nohost
check "--http without a port is refused" bash -c '[ "$1" != 0 ] && grep -q "HOST:PORT" <<<"$2"' _ "$rc" "$out"
run_install "$d2" --from "$rel1" --prefix /home/pi
check "--prefix under /home is refused (ProtectHome)" bash -c '[ "$1" != 0 ] && grep -q "ProtectHome" <<<"$2"' _ "$rc" "$out"
run_install "$d2" --from "$rel1" --bogus
check "an unknown option is refused" bash -c '[ "$1" != 0 ] && grep -q "unknown option" <<<"$2"' _ "$rc" "$out"
if as_root && command -v setpriv >/dev/null 2>&1; then
	res=$(setpriv --reuid=65534 --regid=65534 --clear-groups sh "$install_sh" --from "$rel1" 2>&1)
	check "a real install (no DESTDIR) needs root" bash -c '[ "$1" != 0 ] && grep -q "run as root" <<<"$2"' _ "$?" "$res"
fi
check "the refusals changed nothing" test -z "$(ls -A "$d2")"

# ---- architecture and memory sizing (dry runs) -----------------------------------

fakepath=$tmp/fakebin
mkdir -p "$fakepath"
for m in x86_64:amd64 aarch64:arm64 armv7l:armv7 armv8l:armv7; do
	printf '#!/bin/sh\necho %s\n' "${m%%:*}" >"$fakepath/uname"
	chmod 0755 "$fakepath/uname"
	run_install "$d2" --from "$rel1" --dry-run
	check "uname -m ${m%%:*} installs linux-${m#*:}" \
		bash -c '[ "$1" = 0 ] && grep -q "verified .*edgerag-'"$v1-linux-${m#*:}"' " <<<"$2"' _ "$rc" "$out"
done
for m in armv6l mips64; do
	printf '#!/bin/sh\necho %s\n' "$m" >"$fakepath/uname"
	run_install "$d2" --from "$rel1" --dry-run
	check "uname -m $m is refused with a reason" \
		bash -c '[ "$1" != 0 ] && grep "error: .*$3" <<<"$2" | grep -q "GOARM=6\|unsupported"' _ "$rc" "$out" "$m"
done
fakepath=

for m in 524288:256 1048576:256 4194304:1024 8388608:2048 16777216:2048; do
	printf 'MemTotal:       %s kB\nMemFree:         1000 kB\n' "${m%%:*}" >"$tmp/meminfo"
	meminfo=$tmp/meminfo
	run_install "$d2" --from "$rel1" --dry-run
	check "RAM $((${m%%:*} / 1024)) MiB: default MemoryMax=${m#*:}M" \
		bash -c '[ "$1" = 0 ] && grep -q "MemoryMax='"${m#*:}"'M " <<<"$2" && grep -q "^    | MemoryMax='"${m#*:}"'M$" <<<"$2"' _ "$rc" "$out"
done
meminfo=
check "dry runs changed nothing" test -z "$(ls -A "$d2")"

# ---- uninstall and purge ------------------------------------------------------------

run_install "$d" --uninstall
check "--uninstall succeeds" test "$rc" = 0
check "--uninstall removes the binary and the unit" bash -c '[ ! -e "$1" ] && [ ! -e "$2" ]' _ "$bin" "$unit"
check "--uninstall keeps the data" grep -qx precious "$data/keep"
check "--uninstall keeps the config and the user" \
	bash -c 'grep -qx "# edited by the operator" "$1" && grep -q "^edgerag:" "$2"' _ "$env" "$d/etc/passwd"
run_install "$d" --uninstall
check "--uninstall again is harmless" test "$rc" = 0

run_install "$d" --from "$rel1"
check "reinstall after --uninstall finds the data and config" \
	bash -c '[ "$1" = 0 ] && grep -qx precious "$2" && grep -qx "EDGERAG_HTTP=0.0.0.0:9090" "$3"' _ "$rc" "$data/keep" "$env"

run_install "$d" --uninstall --purge
check "--uninstall --purge succeeds" test "$rc" = 0
check "--purge removes /var/lib/edgerag and /etc/edgerag" bash -c '[ ! -e "$1" ] && [ ! -e "$2" ]' _ "$data" "$d/etc/edgerag"
check "--purge removes the user and group" bash -c '! grep -q "^edgerag:" "$1" "$2"' _ "$d/etc/passwd" "$d/etc/group"
check "--purge leaves no edgerag files" test -z "$(find "$d" -name '*edgerag*')"

# ---- a real install (no DESTDIR), isolated in a private mount namespace ------
#
# As root with unshare(1): a copy of /etc and empty directories are mounted
# over /etc, /usr/local/bin and /var/lib, and a tmpfs over /run, in a mount
# namespace of their own, so useradd, chown by name and the systemctl calls
# (a fake systemctl that records them; /run/systemd/system makes install.sh
# think systemd runs) are exercised without touching this machine. The copies
# are checked from outside afterwards.

ns=$tmp/ns
in_ns() {
	unshare --mount bash -c '
		set -e
		r=$1
		shift
		mount --make-rprivate /
		mount --bind "$r/etc" /etc
		mount --bind "$r/bin" /usr/local/bin
		mount --bind "$r/varlib" /var/lib
		mount -t tmpfs tmpfs /run
		mkdir -p /run/systemd/system
		[ -e /etc/.edgerag-install-test ] || { echo "not isolated: refusing to run"; exit 97; }
		PATH=$r/fake:$PATH exec "$@"' _ "$ns" "$@"
}
if ! as_root || ! command -v unshare >/dev/null 2>&1 || [ ! -d /usr/local/bin ]; then
	skip "real install in a mount namespace (needs root and unshare)"
elif ! mkdir -p "$ns/bin" "$ns/varlib" "$ns/fake" || ! cp -a /etc "$ns/etc" 2>"$tmp/cp.log" ||
	! touch "$ns/etc/.edgerag-install-test" || ! res=$(in_ns true 2>&1); then
	skip "real install in a mount namespace: cannot set one up here ($(head -n 1 <<<"$res"))"
else
	host_ids=$(cat /etc/passwd /etc/group | sha256sum)
	printf '#!/bin/sh\necho "$*" >>%s/systemctl.log\n' "$ns" >"$ns/fake/systemctl"
	chmod 0755 "$ns/fake/systemctl"
	out=$(in_ns sh "$install_sh" --from "$rel1" --memory-max 384M 2>&1)
	rc=$?
	if [ "$rc" = 0 ]; then ok "real install (namespace): succeeds"; else fail "real install (namespace), exit $rc" "$out"; fi
	pw=$(grep '^edgerag:' "$ns/etc/passwd")
	uid=$(cut -d: -f3 <<<"$pw")
	gid=$(cut -d: -f4 <<<"$pw")
	check "real install: useradd made a system user with no login" \
		bash -c '[[ $1 =~ ^edgerag:x:[0-9]+:[0-9]+:[^:]*:/var/lib/edgerag:(/usr/sbin/nologin|/sbin/nologin|/bin/false)$ ]] && [ "$2" -lt 1000 ]' _ "$pw" "$uid"
	check "real install: owners and modes" test \
		"$(stat -c '%a %u:%g' "$ns/bin/edgerag" "$ns/etc/edgerag" "$ns/etc/edgerag/edgerag.env" "$ns/varlib/edgerag" "$ns/etc/systemd/system/edgerag.service" | tr '\n' ' ')" = \
		"755 0:0 750 0:$gid 640 0:$gid 750 $uid:$gid 644 0:0 "
	check "real install: MemoryMax=384M in the unit" grep -qx 'MemoryMax=384M' "$ns/etc/systemd/system/edgerag.service"
	check "real install: systemctl daemon-reload, enable, restart, is-active" \
		test "$(tr '\n' ';' <"$ns/systemctl.log" 2>/dev/null)" = "daemon-reload;enable edgerag.service;restart edgerag.service;is-active --quiet edgerag.service;"
	check "real install: the unit passed systemd-analyze verify (no warning)" bash -c '! grep -q "systemd-analyze verify" <<<"$1"' _ "$out"

	rm -f "$ns/systemctl.log"
	echo keep >"$ns/varlib/edgerag/keep"
	out=$(in_ns sh "$install_sh" --uninstall 2>&1)
	check "real --uninstall: systemctl disable --now, daemon-reload, reset-failed" \
		test "$(tr '\n' ';' <"$ns/systemctl.log" 2>/dev/null)" = "disable --now edgerag.service;daemon-reload;reset-failed edgerag.service;"
	check "real --uninstall: binary and unit gone, data, config and user kept" \
		bash -c '[ ! -e "$1/bin/edgerag" ] && [ ! -e "$1/etc/systemd/system/edgerag.service" ] && [ -f "$1/varlib/edgerag/keep" ] && [ -f "$1/etc/edgerag/edgerag.env" ] && grep -q "^edgerag:" "$1/etc/passwd"' _ "$ns"
	out=$(in_ns sh "$install_sh" --uninstall --purge 2>&1)
	rc=$?
	check "real --uninstall --purge: data, config, user and group gone" \
		bash -c '[ "$2" = 0 ] && [ ! -e "$1/varlib/edgerag" ] && [ ! -e "$1/etc/edgerag" ] && ! grep -q "^edgerag:" "$1/etc/passwd" "$1/etc/group"' _ "$ns" "$rc"
	check "real install: this machine's /etc/passwd and /etc/group were not touched" test "$(cat /etc/passwd /etc/group | sha256sum)" = "$host_ids"
fi

# ---- release.sh (only its argument checks: make release builds for real) -----

res=$(VERSION='bad/version' "$root/scripts/release.sh" 2>&1)
check "release.sh refuses a VERSION unusable in a file name" bash -c '[ "$1" != 0 ] && grep -q "not usable in a file name" <<<"$2"' _ "$?" "$res"
res=$(ARCHES='amd64 mips' DIST="$tmp/dist" "$root/scripts/release.sh" 2>&1)
check "release.sh refuses an unknown target before building anything" \
	bash -c '[ "$1" != 0 ] && grep -q "unknown target .mips." <<<"$2" && [ ! -e "$3" ]' _ "$?" "$res" "$tmp/dist"

echo
summary="install tests: $passed passed, $failed failed"
[ "$skipped" = 0 ] || summary+=" ($skipped skipped)"
echo "$summary"
[ "$failed" = 0 ]
