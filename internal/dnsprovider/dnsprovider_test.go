package dnsprovider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
)

func settings(secrets map[string]string) Settings {
	return Settings{
		PropagationTimeout: time.Minute,
		PollingInterval:    time.Second,
		Resolve: func(ref string) (string, error) {
			if v, ok := secrets[ref]; ok {
				return v, nil
			}
			return "", errors.New("no such secret")
		},
	}
}

func TestExecProviderRunsTheProgramForPresentAndCleanUp(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	program := filepath.Join(dir, "hook")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + log + "\n"
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := New("acme.example.net", config.DNSProvider{Type: config.ProviderExec, Exec: config.Exec{Program: program, Mode: "RAW"}}, settings(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Present(ctx, "fw1.example.com", "tok", "tok.key"); err != nil {
		t.Fatalf("Present: %v", err)
	}
	if err := p.CleanUp(ctx, "fw1.example.com", "tok", "tok.key"); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	got, _ := os.ReadFile(log)
	want := "present -- fw1.example.com tok tok.key\ncleanup -- fw1.example.com tok tok.key\n"
	if string(got) != want {
		t.Errorf("the hook was called with\n%s\nwant\n%s", got, want)
	}
}

func TestHTTPReqProviderPostsWithBasicAuth(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "ottr" || pass != "hunter2" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls = append(calls, r.URL.Path+" "+body["domain"]+" "+body["keyAuth"])
		mu.Unlock()
	}))
	defer srv.Close()

	p, err := New("acme.example.net", config.DNSProvider{Type: config.ProviderHTTPReq, HTTPReq: config.HTTPReq{
		Endpoint: srv.URL, Mode: "RAW", Username: "ottr", Password: "env:DNS_API_PASSWORD",
	}}, settings(map[string]string{"env:DNS_API_PASSWORD": "hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Present(ctx, "fw1.example.com", "tok", "tok.key"); err != nil {
		t.Fatalf("Present: %v", err)
	}
	if err := p.CleanUp(ctx, "fw1.example.com", "tok", "tok.key"); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	want := []string{"/present fw1.example.com tok.key", "/cleanup fw1.example.com tok.key"}
	if strings.Join(calls, "|") != strings.Join(want, "|") {
		t.Errorf("endpoint got %q, want %q", calls, want)
	}
}

func TestHTTPReqProviderErrorsDoNotCarryThePassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "zone is locked", http.StatusConflict)
	}))
	defer srv.Close()
	p, err := New("acme.example.net", config.DNSProvider{Type: config.ProviderHTTPReq, HTTPReq: config.HTTPReq{
		Endpoint: srv.URL, Mode: "RAW", Username: "ottr", Password: "env:P",
	}}, settings(map[string]string{"env:P": "hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Present(context.Background(), "fw1.example.com", "tok", "tok.key")
	if err == nil || !strings.Contains(err.Error(), "zone is locked") {
		t.Fatalf("Present error %v, want the endpoint's message", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error carries the password: %v", err)
	}
}

func TestProvidersAreBuiltFromTheirSettings(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "acme-dns.json")
	if err := os.WriteFile(storage, []byte(`{"fw1.example.com":{"fulldomain":"abc.auth.example","subdomain":"abc","username":"u","password":"p","server_url":"https://auth.example"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"env:CF": "cf-token", "env:AWS": "aws-secret", "file:tsig": "c2VjcmV0"}
	for _, tt := range []struct {
		name string
		p    config.DNSProvider
	}{
		{"rfc2136", config.DNSProvider{Type: config.ProviderRFC2136, RFC2136: config.RFC2136{Nameserver: "127.0.0.1:53", TSIGKey: "k.", TSIGAlgorithm: "hmac-sha256.", TSIGSecret: "file:tsig"}}},
		{"route53 with static credentials", config.DNSProvider{Type: config.ProviderRoute53, Route53: config.Route53{Region: "us-east-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "env:AWS", HostedZoneID: "Z1"}}},
		{"cloudflare", config.DNSProvider{Type: config.ProviderCloudflare, Cloudflare: config.Cloudflare{APIToken: "env:CF"}}},
		{"acme-dns", config.DNSProvider{Type: config.ProviderACMEDNS, ACMEDNS: config.ACMEDNS{APIBase: "https://auth.example", StoragePath: storage}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New("acme.example.net", tt.p, settings(secrets)); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestAMissingSecretNamesTheSetting(t *testing.T) {
	_, err := New("acme.example.net", config.DNSProvider{Type: config.ProviderCloudflare, Cloudflare: config.Cloudflare{APIToken: "env:MISSING"}}, settings(nil))
	if err == nil || !strings.Contains(err.Error(), "dns.providers.acme.example.net.cloudflare.api_token") {
		t.Errorf("New = %v, want an error naming the setting", err)
	}
}
