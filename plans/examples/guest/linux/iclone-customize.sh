#!/bin/sh
# iclone-customize.sh - give an instant clone its own identity from guestinfo.
#
# An instant clone resumes with its source's memory: same hostname, same IP.
# iclone-plan gives every clone guestinfo keys (the plan's guestinfo: map);
# this script reads them with vmware-rpctool and applies them:
#
#   guestinfo.hostname        short host name            lab-web-01
#   guestinfo.domain          DNS domain (search, FQDN)  lab.example.com
#   guestinfo.dns             DNS servers, comma-separated
#   guestinfo.nic<N>.mac      MAC of adapter N: finds the interface
#   guestinfo.nic<N>.ip       address/prefix, or dhcp    10.10.1.11/24
#   guestinfo.nic<N>.gateway  default gateway (optional)
#
# then sets guestinfo.iclone.ready to guestinfo.iclone.name, which is what
# apply waits for with a ready: block (and, with connectAfterReady: true,
# connects the clone's NICs only then). See docs/guest-customization.md.
#
# Usage: iclone-customize.sh [once|watch]
#   once   customize now if guestinfo says so, then exit (the default)
#   watch  customize now, then poll guestinfo.iclone.name every ICLONE_POLL
#          seconds and customize again whenever it changes. This is what the
#          systemd unit runs: an instant clone does not boot, it resumes in
#          the middle of this loop with a new guestinfo.iclone.name.
#
# Every run is idempotent: what is already as guestinfo says is left alone,
# and a second run changes nothing. Messages go to stderr (the journal under
# systemd). Environment (for tests and special cases):
#   ICLONE_ROOT      prefix of every file written (default: none, i.e. /)
#   ICLONE_NETWORK   auto (default), netplan, nm or none
#   ICLONE_POLL      watch interval in seconds (default 2)
#   ICLONE_RETRY     seconds before retrying a failed customization (30)
#   ICLONE_MAX_NICS  highest adapter number looked at (default 10)

set -eu

ROOT=${ICLONE_ROOT:-}
NETWORK=${ICLONE_NETWORK:-auto}
POLL=${ICLONE_POLL:-2}
RETRY=${ICLONE_RETRY:-30}
MAX_NICS=${ICLONE_MAX_NICS:-10}

NETPLAN_DIR=$ROOT/etc/netplan
NETPLAN_FILE=$NETPLAN_DIR/90-iclone.yaml
NETPLAN_ASIDE=$NETPLAN_DIR/iclone-source
NM_DIR=$ROOT/etc/NetworkManager/system-connections

log() {
	# Under systemd the journal adds the identifier itself.
	if [ -n "${JOURNAL_STREAM:-}" ]; then
		printf '%s\n' "$*" >&2
	else
		printf 'iclone-customize: %s\n' "$*" >&2
	fi
}

die() {
	log "error: $*"
	setkey iclone.status "error: $*" || true
	exit 1
}

# gi KEY prints guestinfo.KEY, or nothing when it is not set.
gi() {
	vmware-rpctool "info-get guestinfo.$1" 2>/dev/null || true
}

# setkey KEY VALUE sets guestinfo.KEY unless it already has that value.
setkey() {
	if [ "$(gi "$1")" != "$2" ]; then
		vmware-rpctool "info-set guestinfo.$1 $2" >/dev/null
	fi
}

lower() {
	printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}

valid_hostname() {
	case $1 in
	'' | -* | *- | *[!A-Za-z0-9-]*) return 1 ;;
	esac
	[ "${#1}" -le 63 ]
}

valid_domain() {
	case $1 in
	'' | .* | *. | *..* | *[!A-Za-z0-9.-]*) return 1 ;;
	esac
}

valid_ipv4() {
	case $1 in
	'' | .* | *. | *..* | *[!0-9.]*) return 1 ;;
	esac
	ipv4_ifs=$IFS
	IFS=.
	# shellcheck disable=SC2086 # split on dots on purpose
	set -- $1
	IFS=$ipv4_ifs
	[ "$#" -eq 4 ] || return 1
	for octet in "$@"; do
		[ "${#octet}" -le 3 ] && [ "$octet" -le 255 ] || return 1
	done
}

valid_cidr() {
	case $1 in
	*/*) ;;
	*) return 1 ;;
	esac
	len=${1#*/}
	case $len in
	'' | *[!0-9]*) return 1 ;;
	esac
	valid_ipv4 "${1%/*}" && [ "${#len}" -le 2 ] && [ "$len" -le 32 ]
}

valid_mac() {
	case $1 in
	[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]) return 0 ;;
	esac
	return 1
}

# iface_of MAC prints the name of the interface with that MAC address.
iface_of() {
	ip -o link show | awk -v mac="$1" '{
		for (i = 1; i < NF; i++)
			if ($i == "link/ether" && tolower($(i + 1)) == mac) {
				name = $2; sub(/:$/, "", name); sub(/@.*/, "", name)
				print name; exit
			}
	}'
}

# has_link IFACE: the interface has carrier (its virtual NIC is connected).
has_link() {
	ip -o link show dev "$1" | grep -q 'LOWER_UP'
}

# install_file SRC DEST MODE moves SRC over DEST when they differ; it
# returns 1 (and removes SRC) when DEST already had that content.
install_file() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		rm -f "$1"
		return 1
	fi
	chmod "$3" "$1"
	mv -f "$1" "$2"
}

# yaml_list A,B,C prints ["A", "B", "C"].
yaml_list() {
	printf '%s' "$1" | awk -F, '{
		s = ""
		for (i = 1; i <= NF; i++) if ($i != "") s = s (s == "" ? "" : ", ") "\"" $i "\""
		printf "[%s]", s
	}'
}

detect_network() {
	case $NETWORK in
	auto)
		if command -v netplan >/dev/null 2>&1 && [ -d "$NETPLAN_DIR" ]; then
			echo netplan
		elif command -v nmcli >/dev/null 2>&1; then
			echo nm
		else
			echo none
		fi
		;;
	netplan | nm | none) echo "$NETWORK" ;;
	*) die "ICLONE_NETWORK=$NETWORK: use auto, netplan, nm or none" ;;
	esac
}

set_hostname() {
	fqdn=$1
	[ -z "$domain" ] || fqdn=$1.$domain
	have=$(cat "$ROOT/etc/hostname" 2>/dev/null || true)
	if [ "$have" != "$1" ]; then
		if command -v hostnamectl >/dev/null 2>&1; then
			hostnamectl set-hostname "$1" || die "hostnamectl set-hostname $1 failed"
		else
			printf '%s\n' "$1" >"$ROOT/etc/hostname"
			[ -n "$ROOT" ] || hostname "$1"
		fi
		log "hostname: ${have:-unset} -> $1"
	fi
	# Debian's convention: the host's own name on 127.0.1.1.
	if [ -f "$ROOT/etc/hosts" ]; then
		awk -v line="127.0.1.1	$fqdn $1" '
			$1 == "127.0.1.1" { if (!done) print line; done = 1; next }
			{ print }
			END { if (!done) print line }' "$ROOT/etc/hosts" >"$ROOT/etc/hosts.iclone"
		# Rewritten in place: the file keeps its owner, mode and SELinux label.
		if ! cmp -s "$ROOT/etc/hosts.iclone" "$ROOT/etc/hosts"; then
			cat "$ROOT/etc/hosts.iclone" >"$ROOT/etc/hosts"
			log "/etc/hosts: 127.0.1.1 is $fqdn"
		fi
		rm -f "$ROOT/etc/hosts.iclone"
	fi
}

# nics holds one line per adapter to configure: "N IFACE MAC IP GATEWAY",
# with GATEWAY "-" when there is none.
collect_nics() {
	nics=
	n=0
	while [ "$n" -lt "$MAX_NICS" ]; do
		n=$((n + 1))
		mac=$(lower "$(gi "nic$n.mac")")
		[ -n "$mac" ] || continue
		valid_mac "$mac" || die "guestinfo.nic$n.mac is \"$mac\", not a MAC address"
		addr=$(lower "$(gi "nic$n.ip")")
		if [ -z "$addr" ]; then
			log "nic$n ($mac): no guestinfo.nic$n.ip; not configured here (with netplan: not at all)"
			continue
		fi
		[ "$addr" = dhcp ] || valid_cidr "$addr" ||
			die "guestinfo.nic$n.ip is \"$addr\"; use address/prefix (10.10.1.11/24) or dhcp"
		gw=$(gi "nic$n.gateway")
		[ -z "$gw" ] || valid_ipv4 "$gw" || die "guestinfo.nic$n.gateway is \"$gw\", not an IPv4 address"
		ifname=$(iface_of "$mac")
		[ -n "$ifname" ] ||
			die "no interface has MAC $mac (guestinfo.nic$n.mac): does adapter $n of the plan exist on the source VM?"
		nics="$nics$n $ifname $mac $addr ${gw:--}
"
	done
	# DNS goes to the interfaces with a gateway, or the first one if none has.
	dnsifs=$(printf '%s' "$nics" | awk '$5 != "-" { print $2 }')
	[ -n "$dnsifs" ] || dnsifs=$(printf '%s' "$nics" | awk 'NR == 1 { print $2 }')
}

takes_dns() {
	printf '%s\n' "$dnsifs" | grep -qx "$1"
}

render_netplan() {
	echo "# Written by iclone-customize from this clone's guestinfo; rewritten when it changes."
	echo "# The source VM's own files are in iclone-source/ (netplan does not read them)."
	echo "network:"
	echo "  version: 2"
	if grep -qs '^[[:space:]]*renderer:[[:space:]]*NetworkManager' "$NETPLAN_DIR"/*.yaml "$NETPLAN_ASIDE"/*.yaml; then
		echo "  renderer: NetworkManager"
	fi
	echo "  ethernets:"
	printf '%s' "$nics" | while read -r n ifname mac addr gw; do
		echo "    $ifname:  # adapter $n, $mac"
		if [ "$addr" = dhcp ]; then
			echo "      dhcp4: true"
			echo "      dhcp-identifier: mac  # not the machine-id every clone shares"
		else
			echo "      dhcp4: false"
			echo "      addresses: [\"$addr\"]"
		fi
		if [ "$gw" != - ]; then
			echo "      routes:"
			echo "        - to: 0.0.0.0/0"
			echo "          via: \"$gw\""
		fi
		if takes_dns "$ifname" && { [ -n "$dns" ] || [ -n "$domain" ]; }; then
			echo "      nameservers:"
			[ -z "$dns" ] || echo "        addresses: $(yaml_list "$dns")"
			[ -z "$domain" ] || echo "        search: [\"$domain\"]"
		fi
	done
}

apply_netplan() {
	mkdir -p "$NETPLAN_DIR"
	render_netplan >"$NETPLAN_FILE.new"
	changed=
	if install_file "$NETPLAN_FILE.new" "$NETPLAN_FILE" 600; then
		log "netplan: wrote $NETPLAN_FILE"
		changed=1
	fi
	# Netplan merges every file, appending lists: the source's addresses
	# would stay. The clone's network is exactly what guestinfo says.
	for f in "$NETPLAN_DIR"/*.yaml; do
		if [ ! -e "$f" ] || [ "$f" = "$NETPLAN_FILE" ]; then
			continue
		fi
		mkdir -p "$NETPLAN_ASIDE"
		mv -f "$f" "$NETPLAN_ASIDE/"
		log "netplan: moved the source's ${f##*/} to $NETPLAN_ASIDE/"
		changed=1
	done
	if [ -n "$changed" ]; then
		# Without a link (connectAfterReady) the addresses come with it.
		netplan apply || die "netplan apply failed"
		log "netplan: applied"
	fi
}

render_nm() { # N IFACE MAC ADDR GW
	echo "# Written by iclone-customize from this clone's guestinfo; rewritten when it changes."
	echo "[connection]"
	echo "id=iclone-nic$1"
	echo "type=ethernet"
	echo "interface-name=$2"
	echo "autoconnect=true"
	echo "# Higher than the source's own profile, which stays but loses."
	echo "autoconnect-priority=100"
	echo
	echo "[ethernet]"
	echo "mac-address=$3"
	echo
	echo "[ipv4]"
	if [ "$4" = dhcp ]; then
		echo "method=auto"
		echo "dhcp-client-id=mac"
	else
		echo "method=manual"
		if [ "$5" != - ]; then
			echo "address1=$4,$5"
		else
			echo "address1=$4"
		fi
	fi
	if takes_dns "$2"; then
		[ -z "$dns" ] || echo "dns=$(printf '%s' "$dns" | tr ',' ';');"
		[ -z "$domain" ] || echo "dns-search=$domain;"
	fi
}

apply_nm() {
	mkdir -p "$NM_DIR"
	printf '%s' "$nics" | while read -r n ifname mac addr gw; do
		file=$NM_DIR/iclone-nic$n.nmconnection
		render_nm "$n" "$ifname" "$mac" "$addr" "$gw" >"$file.new"
		install_file "$file.new" "$file" 600 || continue
		log "NetworkManager: wrote $file ($ifname, $addr)"
		nmcli connection load "$file" || die "nmcli connection load $file failed"
		if has_link "$ifname"; then
			nmcli connection up "iclone-nic$n" || die "nmcli connection up iclone-nic$n failed"
			log "NetworkManager: iclone-nic$n is up on $ifname"
		else
			log "NetworkManager: $ifname has no link yet; iclone-nic$n comes up when the NIC is connected"
		fi
	done
}

# customize applies the clone's guestinfo and sets the ready key. It exits
# (in the subshell watch runs it in) on the first error.
customize() {
	name=$(gi iclone.name)
	host=$(gi hostname)
	domain=$(gi domain)
	dns=$(gi dns | tr -d ' ')
	if [ -z "$name" ] && [ -z "$host" ]; then
		log "no guestinfo.iclone.name or guestinfo.hostname: not a clone, nothing to do"
		return 0
	fi
	[ -z "$domain" ] || valid_domain "$domain" || die "guestinfo.domain is \"$domain\", not a DNS domain"
	dns_ifs=$IFS
	IFS=,
	for server in $dns; do
		valid_ipv4 "$server" || die "guestinfo.dns has \"$server\", not an IPv4 address"
	done
	IFS=$dns_ifs

	if [ -n "$host" ]; then
		valid_hostname "$host" || die "guestinfo.hostname is \"$host\"; use letters, digits and -, at most 63"
		set_hostname "$host"
	fi

	collect_nics
	if [ -n "$nics" ]; then
		net=$(detect_network)
		case $net in
		netplan) apply_netplan ;;
		nm) apply_nm ;;
		none) die "guestinfo has NIC settings but neither netplan nor NetworkManager (nmcli) is here" ;;
		*) exit 1 ;; # detect_network said why
		esac
	fi

	if [ -n "$name" ]; then
		if [ "$(gi iclone.ready)" != "$name" ]; then
			vmware-rpctool "info-set guestinfo.iclone.ready $name" >/dev/null ||
				die "could not set guestinfo.iclone.ready"
			log "ready: guestinfo.iclone.ready=$name"
		fi
	fi
	setkey iclone.status ready
}

command -v vmware-rpctool >/dev/null 2>&1 ||
	die "vmware-rpctool not found: install open-vm-tools"

case ${1:-once} in
once)
	customize
	;;
watch)
	log "watching guestinfo.iclone.name every ${POLL}s"
	last=
	while :; do
		id=$(gi iclone.name)
		[ -n "$id" ] || id=$(gi hostname)
		if [ -n "$id" ] && [ "$id" != "$last" ]; then
			# A failure ends the subshell, not the watcher.
			set +e
			(
				set -e
				customize
			)
			rc=$?
			set -e
			if [ "$rc" -eq 0 ]; then
				last=$id
			else
				log "customization failed; retrying in ${RETRY}s"
				sleep "$RETRY"
			fi
		fi
		sleep "$POLL"
	done
	;;
*)
	echo "usage: $0 [once|watch]" >&2
	exit 2
	;;
esac
