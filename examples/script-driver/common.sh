# common.sh holds what the example scripts share; they source it. It reads
# the route's plain_env, checks it, and defines how to run a command on the host.
#
# Route settings (options.plain_env):
#   CERT_PATH       absolute path of the certificate file on the host (leaf, then chain)
#   KEY_PATH        absolute path of the private key file on the host
#   RELOAD_COMMAND  command that loads the new files, e.g. "systemctl reload nginx"
#   SSH_PORT        SSH port (default 22)
#   SSH_HOST        host to connect to (default: the asset's ip_address, else its common_name)
#   KNOWN_HOSTS     known_hosts file (default: the one ottr is configured with)
#   SUDO            "yes" runs every command on the host through "sudo -n"

set -eu

die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

[ -n "${CERT_PATH-}" ] || die "set CERT_PATH (the certificate file on the host) in the route's plain_env"
[ -n "${KEY_PATH-}" ] || die "set KEY_PATH (the key file on the host) in the route's plain_env"
[ -n "${RELOAD_COMMAND-}" ] || die "set RELOAD_COMMAND (e.g. systemctl reload nginx) in the route's plain_env"
case $CERT_PATH$KEY_PATH in
*"'"* | *'"'* | *'\'*) die "CERT_PATH and KEY_PATH must not contain quotes or backslashes" ;;
esac
case $CERT_PATH in /*) ;; *) die "CERT_PATH must be absolute" ;; esac
case $KEY_PATH in /*) ;; *) die "KEY_PATH must be absolute" ;; esac

ssh_host=${SSH_HOST:-${OTTR_IP_ADDRESS:-${OTTR_COMMON_NAME-}}}
known_hosts=${KNOWN_HOSTS:-${OTTR_KNOWN_HOSTS_FILE-}}
[ -n "$ssh_host" ] || die "the asset has no ip_address or common_name; set SSH_HOST"
[ -n "$known_hosts" ] || die "no known_hosts file: configure ottr's or set KNOWN_HOSTS; host keys are always checked"
[ -n "${OTTR_USERNAME-}" ] || die "the credentials have no username"
[ -n "${OTTR_PRIVATE_KEY_FILE-}" ] || die "the credentials have no SSH private key (these scripts log in with keys only)"

# quote prints its argument as one single-quoted shell word.
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# on_host runs a command line on the host, as is, through sudo -n if SUDO
# is yes. Standard input and output pass through.
on_host() {
	cmd=$1
	if [ "${SUDO:-no}" = yes ]; then
		cmd="sudo -n $cmd"
	fi
	ssh -F /dev/null \
		-o BatchMode=yes \
		-o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$known_hosts" \
		-o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes \
		-o ConnectTimeout=20 \
		-i "$OTTR_PRIVATE_KEY_FILE" \
		-p "${SSH_PORT:-22}" \
		-l "$OTTR_USERNAME" \
		-- "$ssh_host" "$cmd"
}

# run_on_host runs a shell script on the host with sh -c, with the host's
# paths set first: cert, key, staged (the key generate_csr makes) and
# pending (the chain being installed).
run_on_host() {
	on_host "sh -c $(quote "cert='$CERT_PATH' key='$KEY_PATH' staged='$KEY_PATH.ottr-new' pending='$CERT_PATH.ottr-new'
$1")"
}

# reload_service runs RELOAD_COMMAND on the host.
reload_service() {
	on_host "$RELOAD_COMMAND"
}
