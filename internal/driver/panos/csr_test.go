package panos

import (
	"strings"
	"testing"
	"time"
)

func TestCertificateNames(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	long := strings.Repeat("very-long-label.", 5) + "example.com"
	for _, tc := range []struct{ name, cn, wantPrefix string }{
		{"dots become dashes", "fw1.example.com", "ottr-fw1-example-com-20260304-050607-"},
		{"a wildcard is spelled out", "*.vpn.example.com", "ottr-wildcard-vpn-example-com-20260304-050607-"},
		{"case and odd characters are folded", "FW_1..Example.COM", "ottr-fw-1-example-com-20260304-050607-"},
		{"a long name is cut and keeps a hash of the whole", long, "ottr-very-long-label-very-long-labe-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newCertificateName(tc.cn, now)
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("name %q does not start with %q", got, tc.wantPrefix)
			}
			if len(got) > maxCertName {
				t.Errorf("name %q is %d characters, more than PAN-OS's %d", got, len(got), maxCertName)
			}
			s, stamp, ok := splitManagedName(got)
			if !ok || s != slug(tc.cn) || stamp != "20260304-050607" {
				t.Errorf("splitManagedName(%q) = %q, %q, %v", got, s, stamp, ok)
			}
		})
	}
	if slug(long) == slug(strings.Repeat("very-long-label.", 5)+"example.org") {
		t.Error("two long names that differ only at the end share a slug")
	}
	if a, b := newCertificateName("fw1.example.com", now), newCertificateName("fw1.example.com", now); a == b {
		t.Errorf("two names made in the same second are both %q", a)
	}
}
