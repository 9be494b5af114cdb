#!/bin/sh
# rollback for the test device: restores the backup the handle names.
set -eu
. "$(dirname -- "$0")/login.sh"
dir=$DEVICE_DIR

input=$(cat)
id=$(printf '%s' "${OTTR_HANDLE-}" | sed -n 's/.*"backup":"\([0-9a-f]*\)".*/\1/p')
case $input in
*"\"handle\":{\"backup\":\"$id\"}"*) ;;
*)
	echo "device: the handle on standard input differs from OTTR_HANDLE" >&2
	exit 4
	;;
esac
if [ -z "$id" ] || [ ! -d "$dir/backups/$id" ]; then
	echo "device: no backup '$id'" >&2
	exit 1
fi
cp "$dir/backups/$id/key.pem" "$dir/key.pem.new"
cp "$dir/backups/$id/cert.pem" "$dir/cert.pem.new"
mv "$dir/key.pem.new" "$dir/key.pem"
mv "$dir/cert.pem.new" "$dir/cert.pem"
echo "device: restored $id"
