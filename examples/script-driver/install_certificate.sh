#!/bin/sh
# install_certificate.sh puts the chain from standard input and the key
# generate_csr made in place, then runs RELOAD_COMMAND. The files it
# replaces are kept as <file>.ottr-backup-<id>, where <id> comes from the
# new chain: installing the same chain again (a resumed rotation) keeps the
# first backup and prints the same handle, so rollback still restores the
# certificate from before. If the reload fails, the previous files are put
# back and the new key waits for a retry.
. "$(dirname -- "$0")/common.sh"

handle=$(run_on_host "set -e
umask 077
cat >\"\$pending\"
id=\$(openssl x509 -in \"\$pending\" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' | cut -c1-16)
backup=.ottr-backup-\$id
if [ -e \"\$staged\" ]; then
	if [ \"\$(openssl pkey -in \"\$staged\" -pubout)\" != \"\$(openssl x509 -in \"\$pending\" -noout -pubkey)\" ]; then
		rm -f \"\$pending\"
		echo 'the certificate is not for the key generate_csr made; run generate_csr again' >&2
		exit 1
	fi
	if [ ! -e \"\$cert\$backup\" ] && [ ! -e \"\$cert\$backup.none\" ]; then
		if [ -e \"\$cert\" ]; then
			cp -p \"\$cert\" \"\$cert\$backup\"
			cp -p \"\$key\" \"\$key\$backup\"
		else
			: >\"\$cert\$backup.none\"
		fi
	fi
	chmod 644 \"\$pending\"
	mv \"\$staged\" \"\$key\"
	mv \"\$pending\" \"\$cert\"
elif cmp -s \"\$pending\" \"\$cert\"; then
	rm -f \"\$pending\"
else
	rm -f \"\$pending\"
	echo 'no key waits for this certificate; run generate_csr again' >&2
	exit 1
fi
printf 'OTTR_HANDLE {\"backup_suffix\":\"%s\"}\n' \"\$backup\"")
suffix=$(printf '%s' "$handle" | sed -n 's/.*"backup_suffix":"\(\.ottr-backup-[0-9a-f]*\)".*/\1/p')
[ -n "$suffix" ] || die "the host did not report its backup"

if ! reload_service; then
	# The service still runs with the previous files; put them back on
	# disk too, and keep the new key for a retry.
	run_on_host "set -e
if [ -e \"\$cert$suffix\" ]; then
	mv \"\$key\" \"\$staged\"
	cp -p \"\$key$suffix\" \"\$key\"
	cp -p \"\$cert$suffix\" \"\$cert\"
fi" || true
	die "$RELOAD_COMMAND failed; the previous certificate and key are back in place"
fi
printf '%s\n' "$handle"
