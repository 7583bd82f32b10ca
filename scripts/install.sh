#!/bin/sh
# Install edgerag on a Linux device as a hardened systemd service, from a
# release directory made by 'make release' (scripts/release.sh).
#
#   sudo scripts/install.sh [--from DIR] [options]      install or upgrade
#   sudo scripts/install.sh --uninstall [--purge]        remove
#
# Run 'scripts/install.sh --help' for the options. POSIX sh on purpose: it
# also runs on devices whose only shell is BusyBox.
set -eu
umask 022

usage() {
	cat <<'EOF'
Usage: install.sh [options]            install or upgrade edgerag (as root)
       install.sh --uninstall [--purge]

Installs the edgerag binary for this machine's architecture from a release
directory (verified against its SHA256SUMS), creates the system user
"edgerag", /etc/edgerag (config) and /var/lib/edgerag (data), and installs,
enables and (re)starts the hardened unit edgerag.service. Running it again
upgrades the binary and the unit and keeps the config and the data.

Options:
  --from DIR          release directory with SHA256SUMS (default ./dist)
  --version V         which release in DIR to install, if it holds several
  --prefix DIR        binary goes in DIR/bin (default /usr/local)
  --http ADDR         HTTP API address for a new config (default 127.0.0.1:8080);
                      given on an upgrade, it replaces EDGERAG_HTTP in the config
  --memory-max SIZE   the unit's MemoryMax, e.g. 384M or 1G (default: the
                      installed unit's on an upgrade, else a quarter of the
                      RAM, at least 256M, at most 2G); MemoryHigh is 90% of it
                      and GOMEMLIMIT 80%
  --arch ARCH         amd64, arm64 or armv7 (default: from uname -m)
  --no-start          install and enable, but do not (re)start the service
  --dry-run           verify the release and print what would be done; change nothing
  --uninstall         stop and remove the service and the binary; keep the
                      config, the data and the user
  --purge             with --uninstall: also remove /etc/edgerag, /var/lib/edgerag
                      (THE DATA) and the edgerag user and group
  -h, --help          this help

Environment:
  DESTDIR             install into this scratch root instead of /: every path
                      is prefixed with it, the user and group are written to
                      DESTDIR/etc/passwd and DESTDIR/etc/group, files are owned
                      by their numeric ids (when run as root), and systemctl is
                      not called. For packaging and tests.
EOF
}

say() { echo "install.sh: $*"; }
warn() { echo "install.sh: warning: $*" >&2; }
die() {
	echo "install.sh: error: $*" >&2
	exit 1
}

# ---- options ---------------------------------------------------------------

from=./dist
version=
prefix=/usr/local
http=
memory_max=
arch=
start=yes
dry_run=no
action=install
purge=no

need() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
	case $1 in
	--from) need "$1" $# && from=$2 && shift ;;
	--from=*) from=${1#*=} ;;
	--version) need "$1" $# && version=$2 && shift ;;
	--version=*) version=${1#*=} ;;
	--prefix) need "$1" $# && prefix=$2 && shift ;;
	--prefix=*) prefix=${1#*=} ;;
	--http) need "$1" $# && http=$2 && shift ;;
	--http=*) http=${1#*=} ;;
	--memory-max) need "$1" $# && memory_max=$2 && shift ;;
	--memory-max=*) memory_max=${1#*=} ;;
	--arch) need "$1" $# && arch=$2 && shift ;;
	--arch=*) arch=${1#*=} ;;
	--no-start) start=no ;;
	--dry-run) dry_run=yes ;;
	--uninstall) action=uninstall ;;
	--purge) purge=yes ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
	shift
done
[ "$purge" = no ] || [ "$action" = uninstall ] || die "--purge goes with --uninstall"

# ---- layout ----------------------------------------------------------------

D=${DESTDIR:-}
D=${D%/}
if [ -n "$D" ]; then
	case $D in
	/*) ;;
	*) D=$(pwd)/$D ;;
	esac
fi

user=edgerag
group=edgerag
prefix=${prefix%/}
case $prefix in
/*) ;;
*) die "--prefix must be an absolute path, got '$prefix'" ;;
esac
case $prefix in
*[!A-Za-z0-9/._-]*) die "--prefix '$prefix': use only letters, digits and / . _ -" ;;
/home | /home/* | /root | /root/* | /run/user/*) die "--prefix '$prefix': the unit has ProtectHome=yes, so it could not run a binary there" ;;
/tmp | /tmp/* | /var/tmp | /var/tmp/*) die "--prefix '$prefix': the unit has PrivateTmp=yes, so it could not run a binary there" ;;
esac
bin=$prefix/bin/edgerag
confdir=/etc/edgerag
envfile=$confdir/edgerag.env
conffile=$confdir/edgerag.toml
datadir=/var/lib/edgerag
unitfile=/etc/systemd/system/edgerag.service
dropins=/etc/systemd/system/edgerag.service.d

is_root() { [ "$(id -u)" = 0 ]; }
if [ -z "$D" ] && [ "$dry_run" = no ] && ! is_root; then
	die "run as root (sudo $0 ...), or set DESTDIR to install into a scratch root"
fi
# systemctl is called only for a real install on a machine running systemd.
if [ -z "$D" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemd=yes
else
	systemd=no
fi

# ---- helpers that change the system (they only print under --dry-run) ------

# mkdir_own MODE OWNER GROUP DIR: create DIR under $D (or fix an existing one).
mkdir_own() {
	if [ "$dry_run" = yes ]; then
		say "would create $D$4/ (mode $1, $2:$3)"
		return
	fi
	mkdir -p "$D$4"
	chmod "$1" "$D$4"
	chown_ids "$2" "$3" "$D$4"
}

# put_file MODE OWNER GROUP PATH: write stdin to PATH under $D atomically.
put_file() {
	if [ "$dry_run" = yes ]; then
		say "would write $D$4 (mode $1, $2:$3):"
		sed 's/^/    | /'
		return
	fi
	mkdir -p "$(dirname "$D$4")"
	tmp=$(mktemp "$D$4.XXXXXX")
	cat >"$tmp"
	chmod "$1" "$tmp"
	chown_ids "$2" "$3" "$tmp"
	mv -f "$tmp" "$D$4"
}

remove() {
	for p in "$@"; do
		[ -e "$D$p" ] || [ -L "$D$p" ] || continue
		case $p in
		/?*) ;;
		*) die "refusing to remove '$D$p'" ;;
		esac
		if [ "$dry_run" = yes ]; then
			say "would remove $D$p"
		else
			rm -rf -- "$D$p"
			say "removed $D$p"
		fi
	done
}

run_systemctl() {
	if [ "$systemd" = no ]; then
		return 0
	fi
	if [ "$dry_run" = yes ]; then
		say "would run: systemctl $*"
		return 0
	fi
	systemctl "$@"
}

# In a scratch root, names of users that exist only there mean nothing to
# chown: use the ids from $D/etc/passwd. Not root: leave the owner alone.
chown_ids() {
	if ! is_root; then
		return 0
	fi
	if [ -n "$D" ]; then
		chown "$(id_in "$D/etc/passwd" "$1" root)":"$(id_in "$D/etc/group" "$2" root)" "$3"
	else
		chown "$1:$2" "$3"
	fi
}

# id_in FILE NAME: the numeric id of NAME in a passwd or group file (root is 0).
id_in() {
	if [ "$2" = root ]; then
		echo 0
		return
	fi
	awk -F: -v n="$2" '$1 == n { print $3; found = 1; exit } END { if (!found) exit 1 }' "$1" ||
		die "no '$2' in $1"
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | awk '{ print tolower($1) }'
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | awk '{ print tolower($1) }'
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 -r "$1" | awk '{ print tolower($1) }'
	else
		die "no sha256sum, shasum or openssl to verify the binary with"
	fi
}

# ---- uninstall ---------------------------------------------------------------

nologin_shell() {
	for s in /usr/sbin/nologin /sbin/nologin; do
		[ -x "$s" ] && echo "$s" && return
	done
	echo /bin/false
}

remove_user() {
	if [ -n "$D" ]; then
		for f in passwd group shadow gshadow; do
			if [ ! -f "$D/etc/$f" ] || ! grep -q "^$user:" "$D/etc/$f"; then
				continue
			fi
			if [ "$dry_run" = yes ]; then
				say "would remove $user from $D/etc/$f"
				continue
			fi
			tmp=$(mktemp "$D/etc/$f.XXXXXX")
			grep -v "^$user:" "$D/etc/$f" >"$tmp" || true
			chmod --reference="$D/etc/$f" "$tmp" 2>/dev/null || chmod 0644 "$tmp"
			mv -f "$tmp" "$D/etc/$f"
		done
		say "removed user and group $user from $D/etc"
		return
	fi
	if [ "$dry_run" = yes ]; then
		say "would remove the user and group $user"
		return
	fi
	if id -u "$user" >/dev/null 2>&1; then
		if command -v userdel >/dev/null 2>&1; then userdel "$user"; else deluser "$user"; fi
	fi
	if grep -q "^$group:" /etc/group 2>/dev/null; then
		if command -v groupdel >/dev/null 2>&1; then groupdel "$group"; else delgroup "$group"; fi
	fi
	say "removed user and group $user"
}

uninstall() {
	if [ "$systemd" = yes ]; then
		run_systemctl disable --now edgerag.service 2>/dev/null || true
	elif [ -z "$D" ]; then
		say "systemd is not running: stop edgerag yourself if it runs"
	fi
	remove "$unitfile" "$bin"
	if [ "$purge" = yes ]; then
		remove "$dropins" "$confdir" "$datadir"
		remove_user
	fi
	run_systemctl daemon-reload
	run_systemctl reset-failed edgerag.service 2>/dev/null || true
	if [ "$purge" = yes ]; then
		say "edgerag purged: binary, service, config, data and user are gone"
	else
		say "edgerag uninstalled; kept $D$confdir, $D$datadir and the user $user (--uninstall --purge removes them)"
	fi
}

if [ "$action" = uninstall ]; then
	uninstall
	exit 0
fi

# ---- install: what to install ---------------------------------------------

machine_arch() {
	m=$(uname -m)
	case $m in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	armv7* | armv8l) echo armv7 ;;
	armv6* | armv5*)
		echo "install.sh: error: $m (e.g. Raspberry Pi 1 or Zero) is not a release target: the armv7 binary needs ARMv7; build one with GOARCH=arm GOARM=6" >&2
		return 1
		;;
	*)
		echo "install.sh: error: unsupported machine '$m': releases are for amd64, arm64 and armv7 (--arch overrides)" >&2
		return 1
		;;
	esac
}
host_arch=$(machine_arch) || host_arch=
case $arch in
'')
	[ -n "$host_arch" ] || exit 1
	arch=$host_arch
	;;
amd64 | arm64 | armv7) ;;
arm) arch=armv7 ;;
*) die "--arch '$arch': use amd64, arm64 or armv7" ;;
esac

[ -d "$from" ] || die "release directory '$from' not found: run 'make release' or pass --from DIR"
sums=$from/SHA256SUMS
[ -f "$sums" ] || die "no SHA256SUMS in '$from': copy the whole release directory (make release writes it)"
case $version in
*[!A-Za-z0-9._+-]*) die "--version '$version': unexpected characters" ;;
esac

# The release's file for this architecture, as SHA256SUMS names it.
candidates=$(awk -v arch="$arch" -v ver="$version" '
	{ f = $2; sub(/^\*/, "", f) }
	f ~ ("^edgerag-[A-Za-z0-9._+-]+-linux-" arch "$") && (ver == "" || f == "edgerag-" ver "-linux-" arch) { print f }
' "$sums")
n=$(printf '%s\n' "$candidates" | grep -c . || true)
if [ "$n" -eq 0 ]; then
	if [ -n "$version" ]; then
		die "no edgerag-$version-linux-$arch in $sums"
	fi
	die "no linux-$arch binary listed in $sums (this machine is $arch)"
elif [ "$n" -gt 1 ]; then
	die "$sums lists several linux-$arch releases; pick one with --version: $(echo "$candidates" | tr '\n' ' ')"
fi
name=$candidates
release=${name#edgerag-}
release=${release%-linux-"$arch"}
src=$from/$name
[ -f "$src" ] || die "$src is listed in SHA256SUMS but missing"
expected=$(awk -v f="$name" '{ g = $2; sub(/^\*/, "", g) } g == f { print tolower($1); exit }' "$sums")
case $expected in
*[!0-9a-f]* | '') die "malformed SHA-256 for $name in $sums" ;;
esac
[ ${#expected} -eq 64 ] || die "malformed SHA-256 for $name in $sums"
actual=$(sha256_of "$src")
if [ "$actual" != "$expected" ]; then
	die "SHA-256 mismatch for $src: SHA256SUMS says $expected, the file is $actual; refusing to install it (copy the release again)"
fi
say "verified $src (sha256 $actual)"

# ---- install: settings ------------------------------------------------------

# Sizes in MiB. The default MemoryMax is a quarter of the RAM, within
# [256M, 2G]: room for the page cache of Badger's tables next to a model
# server on a small board.
meminfo=${EDGERAG_MEMINFO:-/proc/meminfo} # (tests point this at a fake file)
ram_mib=$(awk '/^MemTotal:/ { print int($2 / 1024); exit }' "$meminfo" 2>/dev/null || true)
if [ -z "$memory_max" ] && [ -f "$D$unitfile" ]; then
	# An upgrade keeps the installed unit's MemoryMax.
	memory_max=$(sed -n 's/^MemoryMax=\([0-9][0-9]*M\)$/\1/p' "$D$unitfile" | head -n 1)
	[ -z "$memory_max" ] || say "keeping MemoryMax=$memory_max from the installed unit (--memory-max changes it)"
fi
if [ -z "$memory_max" ]; then
	[ -n "$ram_mib" ] || die "cannot read MemTotal from $meminfo: pass --memory-max"
	mm=$((ram_mib / 4))
	[ "$mm" -ge 256 ] || mm=256
	[ "$mm" -le 2048 ] || mm=2048
else
	v=${memory_max%iB}
	v=${v%B}
	num=${v%[KMGTkmgt]}
	case $num in
	'' | *[!0-9]*) die "--memory-max '$memory_max': use a size like 384M or 1G" ;;
	esac
	num=$(echo "${v%[KMGTkmgt]}" | sed 's/^0*//')
	num=${num:-0}
	case $v in
	*[Kk]) mm=$((num / 1024)) ;;
	*[Mm]) mm=$num ;;
	*[Gg]) mm=$((num * 1024)) ;;
	*[Tt]) mm=$((num * 1048576)) ;;
	*) mm=$((num / 1048576)) ;;
	esac
	[ "$mm" -ge 64 ] || die "--memory-max '$memory_max' is below 64M: the node cannot run in that"
fi
if [ -n "$ram_mib" ] && [ "$mm" -gt "$ram_mib" ]; then
	warn "MemoryMax ${mm}M is more than this machine's RAM (${ram_mib} MiB)"
fi
memory_high=$((mm * 9 / 10))
gomemlimit=$((mm * 8 / 10))

if [ -n "$http" ]; then
	case $http in
	*:*) ;;
	*) die "--http '$http': use HOST:PORT, e.g. 127.0.0.1:8080" ;;
	esac
	case $http in
	*[!]A-Za-z0-9.:_[-]*) die "--http '$http': unexpected characters" ;;
	esac
fi
default_http=127.0.0.1:8080

# ---- install: files -----------------------------------------------------------

say "installing edgerag $release (linux-$arch) into ${D:-/}; MemoryMax=${mm}M MemoryHigh=${memory_high}M GOMEMLIMIT=${gomemlimit}MiB"

# The user and group.
if [ -n "$D" ]; then
	if [ "$dry_run" = yes ]; then
		say "would add the system user and group $user to $D/etc/passwd and $D/etc/group"
	else
		mkdir -p "$D/etc"
		touch "$D/etc/passwd" "$D/etc/group"
		# shellcheck disable=SC2016 # an awk program: its $3 is awk's
		free_id='{ used[$3] = 1 } END { for (i = 999; i >= 100; i--) if (!(i in used)) { print i; exit } }'
		if ! grep -q "^$group:" "$D/etc/group"; then
			gid=$(awk -F: "$free_id" "$D/etc/group")
			echo "$group:x:$gid:" >>"$D/etc/group"
		fi
		gid=$(id_in "$D/etc/group" "$group")
		if ! grep -q "^$user:" "$D/etc/passwd"; then
			uid=$(awk -F: "$free_id" "$D/etc/passwd")
			echo "$user:x:$uid:$gid:edgerag node:$datadir:$(nologin_shell)" >>"$D/etc/passwd"
			say "added the system user $user ($uid:$gid) to $D/etc/passwd"
		fi
	fi
elif ! id -u "$user" >/dev/null 2>&1; then
	if [ "$dry_run" = yes ]; then
		say "would add the system user and group $user"
	elif command -v useradd >/dev/null 2>&1; then
		grep -q "^$group:" /etc/group || groupadd --system "$group"
		useradd --system --gid "$group" --home-dir "$datadir" --no-create-home \
			--shell "$(nologin_shell)" --comment "edgerag node" "$user"
		say "added the system user $user"
	elif command -v adduser >/dev/null 2>&1; then # BusyBox
		grep -q "^$group:" /etc/group || addgroup -S "$group"
		adduser -S -D -H -h "$datadir" -s "$(nologin_shell)" -G "$group" -g "edgerag node" "$user"
		say "added the system user $user"
	else
		die "no useradd or adduser to create the user $user with"
	fi
fi

mkdir_own 0750 root "$group" "$confdir"
mkdir_own 0750 "$user" "$group" "$datadir"

# The binary: staged next to its place, checked to run, then renamed over
# the old one (a running binary cannot be overwritten in place).
if [ "$dry_run" = yes ]; then
	say "would install $src as $D$bin (mode 0755, root:root)"
else
	mkdir -p "$D$prefix/bin"
	stage=$(mktemp "$D$bin.XXXXXX")
	trap 'rm -f "$stage"' EXIT
	cp "$src" "$stage"
	chmod 0755 "$stage"
	chown_ids root root "$stage"
	if [ "$arch" = "$host_arch" ]; then
		out=$("$stage" version 2>&1) || die "$name does not run on this machine: $out"
		case $out in
		"edgerag $release "*) ;;
		*) die "$name says it is '$out', not edgerag $release" ;;
		esac
	fi
	mv -f "$stage" "$D$bin"
	trap - EXIT
	say "installed $D$bin"
fi

# The config: written once, then the operator's. An explicit --http updates
# that one line on an upgrade.
if [ -f "$D$envfile" ]; then
	if [ -n "$http" ] && ! grep -qx "EDGERAG_HTTP=$http" "$D$envfile"; then
		if [ "$dry_run" = yes ]; then
			say "would set EDGERAG_HTTP=$http in $D$envfile"
		else
			{
				grep -v '^EDGERAG_HTTP=' "$D$envfile" || true
				echo "EDGERAG_HTTP=$http"
			} | put_file 0640 root "$group" "$envfile"
			say "set EDGERAG_HTTP=$http in $D$envfile"
		fi
	else
		say "kept $D$envfile"
	fi
else
	put_file 0640 root "$group" "$envfile" <<EOF
# edgerag node settings, read by edgerag.service (EnvironmentFile=).
# Written once by install.sh; kept on upgrade and on --uninstall, removed by
# --uninstall --purge. After a change: systemctl restart edgerag
#
# The node's settings are in $conffile; the values here take
# precedence over it (see 'edgerag config default' for every key).

# Address of the HTTP API. It has no authentication: keep it on 127.0.0.1
# unless a firewall or a reverse proxy guards the port. Ports below 1024
# cannot be used (the service has no capabilities).
EDGERAG_HTTP=${http:-$default_http}

# The node's database. The service can write only to $datadir
# (ReadWritePaths=): move both together, with 'systemctl edit edgerag'.
EDGERAG_DATA=$datadir

# More flags for 'edgerag serve' (see 'edgerag serve -h'), split at spaces;
# they beat both this file and $conffile. Prefer setting keys there.
EDGERAG_OPTS=

# Soft limit of the Go heap. The unit sets it to 80% of its MemoryMax
# (systemctl show -p MemoryMax edgerag); set it here only to override that.
#GOMEMLIMIT=300MiB
EOF
fi

# The node's configuration file: written once, then the operator's; an
# upgrade from an install that had none writes it.
if [ -f "$D$conffile" ]; then
	say "kept $D$conffile"
else
	put_file 0640 root "$group" "$conffile" <<EOF
# edgerag node configuration (TOML), read by edgerag.service (--config).
# Written once by install.sh; kept on upgrade and on --uninstall, removed by
# --uninstall --purge. After a change:
#   edgerag config check $conffile && systemctl restart edgerag
#
# Every key is a flag of 'edgerag serve' with the same name:
# 'edgerag config default' prints them all, commented out at their defaults.
# An unknown key or a bad value stops the node with its line number.
# EDGERAG_HTTP and EDGERAG_DATA in $envfile, and flags in its
# EDGERAG_OPTS, take precedence over this file.

#name = "edge-1"

[log]
# JSON lines for the journal and log shippers; "text" reads better by eye.
log-format = "json"

[models]
# The model manifest: the Ollama server and the models the node uses.
#ollama = "127.0.0.1:11434"
#gen-model = "qwen2.5:0.5b"
#embed-model = "all-minilm"
#num-thread = 1

[fleet]
#tls-dir = "$confdir/tls"
#central = "central.example:7443"
EOF
fi

# The unit: regenerated on every install (local changes go in a drop-in).
put_file 0644 root root "$unitfile" <<EOF
# edgerag node: installed by scripts/install.sh from edgerag $release.
# Regenerated by every install: put local changes in a drop-in
# ('systemctl edit edgerag'); settings go in $conffile and $envfile.
[Unit]
Description=edgerag retrieval-augmented QA node
Documentation=https://github.com/edgerag/edgerag
Wants=network-online.target
After=network-online.target
# An unattended device keeps trying: no start rate limit.
StartLimitIntervalSec=0

[Service]
Type=simple
User=$user
Group=$group
# Defaults; $envfile overrides them.
Environment=EDGERAG_HTTP=${http:-$default_http} EDGERAG_DATA=$datadir EDGERAG_OPTS=
Environment=GOMEMLIMIT=${gomemlimit}MiB
EnvironmentFile=$envfile
ExecStart=$bin serve --config $conffile --data \${EDGERAG_DATA} --http \${EDGERAG_HTTP} \$EDGERAG_OPTS
Restart=on-failure
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=15
LimitNOFILE=65536
UMask=0027

# Memory: a ceiling sized for a small device; reclaim pressure from 90% of it.
MemoryMax=${mm}M
MemoryHigh=${memory_high}M

# Sandbox: no privileges, read-only system, writable data directory only.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=$datadir
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
ProtectProc=invisible
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
EOF

if [ "$dry_run" = no ] && [ "$systemd" = yes ] && command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify "$unitfile" || warn "systemd-analyze verify $unitfile reported problems (above)"
fi

# ---- install: the service -----------------------------------------------------

if [ "$systemd" = yes ]; then
	run_systemctl daemon-reload
	run_systemctl enable edgerag.service
	if [ "$start" = yes ]; then
		run_systemctl restart edgerag.service
		if [ "$dry_run" = no ]; then
			sleep 2
			systemctl is-active --quiet edgerag.service ||
				die "installed, but edgerag.service is not running: journalctl -u edgerag -n 50"
			say "edgerag.service is running: systemctl status edgerag; journalctl -u edgerag -f"
		fi
	else
		say "enabled, not started (--no-start): systemctl start edgerag"
	fi
elif [ -n "$D" ]; then
	say "DESTDIR: not calling systemctl (a real install runs: systemctl daemon-reload; systemctl enable edgerag; systemctl restart edgerag)"
else
	say "systemd is not running here: the unit is installed; start it with 'systemctl enable --now edgerag' where systemd runs"
fi
if [ "$dry_run" = yes ]; then
	say "dry run: nothing was changed"
else
	say "done: edgerag $release; config $D$conffile and $D$envfile, data $D$datadir"
fi
