#!/bin/sh
# install_certificate for the test device: puts the chain from standard
# input and the staged key in service, keeping the previous pair in
# backups/<id>, where <id> is derived from the new chain so that a repeated
# install hands back the same backup.
set -eu
. "$(dirname -- "$0")/login.sh"
dir=$DEVICE_DIR
umask 077

cat >"$dir/incoming.pem"
if [ -e "$dir/fail" ]; then
	rm -f "$dir/incoming.pem"
	echo "device: certificate refused (lab fault)" >&2
	exit 1
fi
id=$(openssl x509 -in "$dir/incoming.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' | cut -c1-16)

if [ -e "$dir/staged.key" ]; then
	if [ "$(openssl pkey -in "$dir/staged.key" -pubout)" != "$(openssl x509 -in "$dir/incoming.pem" -noout -pubkey)" ]; then
		rm -f "$dir/incoming.pem"
		echo "device: the certificate is not for the staged key" >&2
		exit 1
	fi
	if [ ! -d "$dir/backups/$id" ]; then
		mkdir -p "$dir/backups/$id"
		cp "$dir/cert.pem" "$dir/key.pem" "$dir/backups/$id/"
	fi
	mv "$dir/staged.key" "$dir/key.pem"
	mv "$dir/incoming.pem" "$dir/cert.pem"
elif cmp -s "$dir/incoming.pem" "$dir/cert.pem"; then
	rm -f "$dir/incoming.pem"
	echo "device: this certificate is installed already"
else
	rm -f "$dir/incoming.pem"
	echo "device: no staged key for this certificate" >&2
	exit 1
fi
echo "device: installed $id"
printf 'OTTR_HANDLE {"backup":"%s"}\n' "$id"
