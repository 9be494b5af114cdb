#!/bin/sh
# current_certificate for the test device: prints the configured chain.
set -eu
. "$(dirname -- "$0")/login.sh"
cat "$DEVICE_DIR/cert.pem"
