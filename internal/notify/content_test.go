package notify

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\nAAAAMwAAAAtzc2gtZWQ\n-----END OPENSSH PRIVATE KEY-----\n"
	tests := []struct {
		name, text, want string
		secrets          []string
	}{
		{"replaces a password wherever it appears", "login as admin/s3cret-pw failed: s3cret-pw", "login as admin/[redacted] failed: [redacted]", []string{"s3cret-pw"}},
		{"replaces the longer of two secrets whole", "token abcd1234efgh", "token [redacted]", []string{"abcd", "abcd1234efgh"}},
		{"replaces each long line of a private key quoted alone", "device said: b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB is not a key", "device said: [redacted] is not a key", []string{key}},
		{"leaves a secret too short to tell from words", "pin 42 refused", "pin 42 refused", []string{"42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact(tt.text, tt.secrets); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSampleEvent(t *testing.T) {
	e := SampleEvent("https://ottr.example.com", now)
	if !e.Test || e.Kind != RotationFailed || e.Asset == nil || e.Rotation == nil || e.Link != "https://ottr.example.com" {
		t.Errorf("sample %+v, want a test failure with an asset, a rotation and the link", e)
	}
	if !strings.HasPrefix(e.Summary, "Test message from ottr: Rotation of test.ottr.invalid failed at install") {
		t.Errorf("summary %q", e.Summary)
	}
}
