// Package e2e holds end-to-end tests that rotate certificates through
// ottr's real code path against real servers the tests start themselves,
// on loopback and with their own configuration (see
// internal/testenv/realserver): OpenSSH carries the Linux driver's
// commands, nginx and HAProxy serve the installed chain, BIND 9 holds the
// device zone and the delegate zone lego writes DNS-01 challenges into with
// a TSIG key, and an embedded Pebble validates them through BIND. A second
// nginx serves ten vhosts from bundles of key and certificate, which one
// templated route rotates at once.
//
// The package has no code of its own; its tests run with
//
//	go test -race ./internal/e2e/...
//
// and need the Debian packages openssh-server, nginx, haproxy and bind9
// ('make test' installs them when run as root). A missing one fails the
// tests, it never skips them; only go test -short skips them, without
// starting a server.
package e2e
