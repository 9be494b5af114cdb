package app_test

import (
	"os"
	"testing"

	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

// pg is the PostgreSQL server the tests that build an app on PostgreSQL
// share, each in a database of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := pg.Run(m)
	if labCA.ca != nil {
		labCA.ca.Close()
		labCA.dns.Close()
	}
	os.Exit(code)
}
