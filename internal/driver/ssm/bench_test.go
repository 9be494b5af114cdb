package ssm

import (
	"context"
	"testing"
)

// BenchmarkRotation runs the driver's part of a rotation (current
// certificate, CSR, install with its reload) against one emulated instance
// and reports the SSM commands and the API calls each rotation costs: every
// command is a round trip through AWS plus polls, which dominate a real
// rotation's time.
//
//	go test -run '^$' -bench Rotation ./internal/driver/ssm/
func BenchmarkRotation(b *testing.B) {
	f := newFixture(b)
	sess := f.open(b, newTestDriver())
	ca := newCA(b)
	ctx := context.Background()
	commands := f.svc.SendCommandCalls()
	calls := len(f.svc.Requests())
	for b.Loop() {
		if _, err := sess.CurrentCertificate(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := sess.Install(ctx, f.issue(b, sess, ca)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.svc.SendCommandCalls()-commands)/float64(b.N), "commands/op")
	b.ReportMetric(float64(len(f.svc.Requests())-calls)/float64(b.N), "api-calls/op")
}
