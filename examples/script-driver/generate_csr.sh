#!/bin/sh
# generate_csr.sh has openssl on the host make a new key, kept on the host
# next to KEY_PATH as <KEY_PATH>.ottr-new, and prints the CSR for it.
. "$(dirname -- "$0")/common.sh"

case ${OTTR_KEY_TYPE-} in
rsa2048) newkey="-newkey rsa:2048" ;;
rsa3072) newkey="-newkey rsa:3072" ;;
rsa4096) newkey="-newkey rsa:4096" ;;
ecdsa256) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve" ;;
ecdsa384) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve" ;;
*) die "unsupported key type '${OTTR_KEY_TYPE-}'" ;;
esac
digest=-sha256
[ "$OTTR_KEY_TYPE" = ecdsa384 ] && digest=-sha384
# ottr checks every name is a DNS name, so they are safe in -subj.
sans=$(printf '%s' "$OTTR_SANS" | sed 's/[^,][^,]*/DNS:&/g')

# The key is written with umask 077 and never printed; openssl's chatter
# goes to standard error only when it fails.
run_on_host "set -e
umask 077
[ -d \"\${staged%/*}\" ] || mkdir -p \"\${staged%/*}\"
rm -f \"\$staged\" \"\$staged.log\"
if ! openssl req -new $newkey -nodes -keyout \"\$staged\" $digest -subj '/CN=$OTTR_COMMON_NAME' -addext 'subjectAltName=$sans' 2>\"\$staged.log\"; then
	cat \"\$staged.log\" >&2
	rm -f \"\$staged\" \"\$staged.log\"
	exit 1
fi
rm -f \"\$staged.log\""
