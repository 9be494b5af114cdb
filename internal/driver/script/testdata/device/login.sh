# login.sh is sourced by every script of the test device: the device's
# login is the password in $DEVICE_DIR/password.
if [ "${OTTR_PASSWORD-}" != "$(cat "$DEVICE_DIR/password")" ]; then
	echo "device: login failed for ${OTTR_USERNAME-}" >&2
	exit 5
fi
