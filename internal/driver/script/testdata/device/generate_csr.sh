#!/bin/sh
# generate_csr for the test device, a directory: openssl makes the key into
# staged.key, where it stays, and prints the CSR.
set -eu
. "$(dirname -- "$0")/login.sh"

input=$(cat)
case $input in
*"\"common_name\":\"$OTTR_COMMON_NAME\""*) ;;
*)
	echo "device: the request on standard input does not name $OTTR_COMMON_NAME" >&2
	exit 3
	;;
esac

case $OTTR_KEY_TYPE in
rsa2048) newkey="-newkey rsa:2048" ;;
rsa3072) newkey="-newkey rsa:3072" ;;
rsa4096) newkey="-newkey rsa:4096" ;;
ecdsa256) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
ecdsa384) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-384" ;;
*)
	echo "device: unsupported key type $OTTR_KEY_TYPE" >&2
	exit 2
	;;
esac
sans=$(printf '%s' "$OTTR_SANS" | sed 's/[^,][^,]*/DNS:&/g')

umask 077
echo "device: generating a $OTTR_KEY_TYPE key for $OTTR_COMMON_NAME" >&2
# $newkey is several words on purpose.
# shellcheck disable=SC2086
openssl req -new $newkey -nodes -keyout "$DEVICE_DIR/staged.key" \
	-subj "/CN=$OTTR_COMMON_NAME" -addext "subjectAltName=$sans" 2>/dev/null
