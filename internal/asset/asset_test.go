package asset

import (
	"reflect"
	"testing"
	"time"
)

func TestCloneSharesNothingWithTheOriginal(t *testing.T) {
	original := fullAsset()
	clone := original.Clone()
	if !reflect.DeepEqual(clone, original) {
		t.Fatalf("the clone differs from the original:\n%+v\n%+v", clone, original)
	}

	// Change everything a clone could share with its original.
	clone.SubjectAlternativeName[0] = "changed.example.com"
	clone.Labels["team"] = "changed"
	later := func(p *time.Time) { *p = p.Add(time.Hour) }
	for _, p := range []*time.Time{clone.CertificateExpiration, clone.CertificateNotBefore, clone.LastRotation,
		clone.NextAttemptAt, clone.RenewalTime, clone.RenewalCheckAt, &clone.RenewalWindow.Start} {
		later(p)
	}

	if !reflect.DeepEqual(original, fullAsset()) {
		t.Errorf("changing the clone changed the original:\n%+v", original)
	}
}
