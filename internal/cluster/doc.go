// Package cluster holds the end-to-end test of cluster mode: several ottr
// processes, built from cmd/ottr, sharing one PostgreSQL database while a
// lab fleet rotates, with a worker killed and PostgreSQL restarted mid-wave.
// It has no code of its own.
package cluster
