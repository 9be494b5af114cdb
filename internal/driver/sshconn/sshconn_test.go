package sshconn

import (
	"context"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
)

func TestKeyscanHintUsesThePort(t *testing.T) {
	for addr, want := range map[string]string{
		"10.0.0.1:22":   "`ssh-keyscan 10.0.0.1 >> kh`",
		"10.0.0.1:2222": "`ssh-keyscan -p 2222 10.0.0.1 >> kh`",
		"[::1]:2200":    "`ssh-keyscan -p 2200 ::1 >> kh`",
	} {
		if got := KeyscanHint(addr, "kh"); got != want {
			t.Errorf("KeyscanHint(%q) = %s, want %s", addr, got, want)
		}
	}
}

func TestDialRefusesBeforeConnectingWithoutAKnownHostsFileOrLogin(t *testing.T) {
	var d Dialer
	ctx := context.Background()
	// Port 1 on loopback: nothing listens, so any of these reaching the
	// network would fail differently.
	for _, tt := range []struct {
		name, file string
		creds      driver.Credentials
		want       string
	}{
		{"no known_hosts file configured", "", driver.Credentials{Username: "ottr", Password: "x"}, "no known_hosts file is configured"},
		{"a known_hosts file that does not exist", "/nonexistent/known_hosts", driver.Credentials{Username: "ottr", Password: "x"}, "does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := d.Dial(ctx, "127.0.0.1:1", tt.file, tt.creds)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "ssh-keyscan -p 1 127.0.0.1") {
				t.Errorf("Dial = %v, want %q with the keyscan command", err, tt.want)
			}
		})
	}
}
