#!/bin/sh
# rollback.sh restores the files install_certificate replaced, named by
# the handle it printed, and runs RELOAD_COMMAND. It can run any number of
# times.
. "$(dirname -- "$0")/common.sh"

suffix=$(printf '%s' "${OTTR_HANDLE-}" | sed -n 's/.*"backup_suffix":"\([^"]*\)".*/\1/p')
case $suffix in
.ottr-backup-*) ;;
*) die "the handle names no backup: ${OTTR_HANDLE-}" ;;
esac
case $suffix in
*[!0-9a-z.-]*) die "the handle's backup suffix is not one install_certificate makes: $suffix" ;;
esac

run_on_host "set -e
if [ -e \"\$cert$suffix\" ]; then
	cp -p \"\$key$suffix\" \"\$key.ottr-restore\"
	cp -p \"\$cert$suffix\" \"\$cert.ottr-restore\"
	mv \"\$key.ottr-restore\" \"\$key\"
	mv \"\$cert.ottr-restore\" \"\$cert\"
elif [ -e \"\$cert$suffix.none\" ]; then
	rm -f \"\$cert\" \"\$key\"
else
	echo \"no backup \$cert$suffix on the host\" >&2
	exit 1
fi"
reload_service
