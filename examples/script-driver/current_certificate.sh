#!/bin/sh
# current_certificate.sh prints the certificates in CERT_PATH on the host,
# and nothing else of the file.
. "$(dirname -- "$0")/common.sh"

run_on_host "[ ! -e \"\$cert\" ] || sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' \"\$cert\""
