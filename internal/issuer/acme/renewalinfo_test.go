package acme

import (
	"context"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/issuer"
)

func TestRenewalInfoByCertificateID(t *testing.T) {
	ctx := context.Background()
	iss := newLabIssuer(t)
	delegate(t, "ari-id.lab.ottr.test")
	chain, err := iss.Issue(ctx, newCSR(t, "ari-id.lab.ottr.test"), issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]
	id, err := issuer.CertID(leaf)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("answers what it answers for the certificate itself", func(t *testing.T) {
		byID, err := iss.RenewalInfo(ctx, id)
		if err != nil {
			t.Fatalf("RenewalInfo: %v", err)
		}
		byCert, err := iss.RenewalWindow(ctx, leaf, chain[1])
		if err != nil {
			t.Fatalf("RenewalWindow: %v", err)
		}
		if !byID.Start.Equal(byCert.Start) || !byID.End.Equal(byCert.End) {
			t.Errorf("by ID [%s, %s], by certificate [%s, %s]", byID.Start, byID.End, byCert.Start, byCert.End)
		}
		if !byID.RetryAfter.After(time.Now()) {
			t.Errorf("RetryAfter %s is not in the future", byID.RetryAfter)
		}
	})
	t.Run("follows a window the CA moves", func(t *testing.T) {
		start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
		end := start.Add(time.Hour)
		if err := testCA.SetRenewalWindow(leaf, start, end); err != nil {
			t.Fatal(err)
		}
		info, err := iss.RenewalInfo(ctx, id)
		if err != nil {
			t.Fatalf("RenewalInfo: %v", err)
		}
		if !info.Start.Equal(start) || !info.End.Equal(end) {
			t.Errorf("window [%s, %s], want [%s, %s]", info.Start, info.End, start, end)
		}
	})
	t.Run("refuses an ID that is not one without asking the CA", func(t *testing.T) {
		if _, err := iss.RenewalInfo(ctx, "not-an-id"); err == nil {
			t.Error("RenewalInfo of a malformed ID succeeded")
		}
	})
}
