// Package killtest proves what the README promises of ottr on its embedded
// default (SQLite and an in-process job queue): killing it loses nothing,
// strands nothing and orders no certificate twice. A child `ottr lab
// --no-rotate` hosts the CA, the DNS server and a fleet of emulated
// devices; a child `ottr serve` on the lab's data directory rotates the
// fleet and is SIGKILLed at moments drawn from a seed, and restarted on the
// same directory, again and again. Once the fleet has settled the test
// counts at the CA (which lives in the lab process and so outlasts every
// kill) and on the devices (by a TLS handshake to each) what was lost,
// stuck or done twice, and holds the counts to the bounds.
//
// The package has no code of its own. `make test` runs the reduced form (60
// devices, 5 kills); `make killtest` the full one (300 devices, 10 kills),
// which prints the figures BENCHMARKS.md records:
//
//	go test -count=1 -v -run TestKilledServe -timeout 60m ./internal/killtest \
//	    -killtest.devices=300 -killtest.kills=10 -killtest.seed=SEED
//
// The seed fixes which moments are drawn (how far into the wave, and how
// long after that, each kill comes); the machine's speed decides what is in
// flight at each of them.
package killtest
