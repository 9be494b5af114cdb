//go:build !unix

package sqlite

import "io/fs"

// Where files have no POSIX owner and mode bits, Open leaves access to the
// operating system's own checks.

func checkOwner(string, fs.FileInfo) error { return nil }

func mayWrite(string, bool) bool { return true }

func ownerOf(fs.FileInfo) string { return "owner unknown" }

func accessHint(string, fs.FileInfo) string { return "run ottr as a user that may read and write it" }

func reachHint(string) string { return "run ottr as a user that may reach it" }
