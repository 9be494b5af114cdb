package awssm_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/secret/awssm"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"

	"github.com/ottr-go/ottr/internal/testenv"
)

// Values shaped as Ottr stores them; none may appear in an error or a log.
const (
	panosPassword = "pan-Pa55-word-7f3a"
	f5Password    = "f5-Pa55-word-91c2"
	slackToken    = "xoxb-0000-ottr-lab-token"
	oldPassword   = "pan-old-Pa55-44d1"
)

var secretValues = []string{panosPassword, f5Password, slackToken, oldPassword}

func ottrSecrets() map[string]string {
	return map[string]string{
		"prod/otter/panos":   `{"username":"admin","password":"` + panosPassword + `"}`,
		"prod/otter/f5":      `{"username":"ottr","password":"` + f5Password + `"}`,
		"prod/otter/slack":   slackToken,
		"prod/otter/numbers": `{"username":"admin","port":443}`,
		"prod/otter/list":    `["` + panosPassword + `"]`,
	}
}

type fixture struct {
	sm       *awssmlab.Server
	resolver *secret.Resolver
	clock    *testenv.Clock
	log      *bytes.Buffer
}

func newFixture(t *testing.T, edit func(*awssm.Config)) *fixture {
	t.Helper()
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: ottrSecrets()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	cfg := awssm.Config{Region: sm.Region(), Endpoint: sm.URL(), AccessKeyID: sm.AccessKeyID(), SecretAccessKey: sm.SecretAccessKey()}
	if edit != nil {
		edit(&cfg)
	}
	source, err := awssm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sm: sm, clock: testenv.NewClock(time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)), log: &bytes.Buffer{}}
	f.resolver = secret.NewResolver(secret.ResolverOptions{
		Sources:  map[string]secret.Source{secret.SchemeAWS: source},
		CacheTTL: 5 * time.Minute,
		Timeout:  time.Minute,
		Now:      f.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return f
}

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, v := range secretValues {
		if strings.Contains(text, v) {
			t.Errorf("%s holds a secret value: %s", where, text)
		}
	}
}

func TestResolveReadsOttrsSecrets(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name, ref, want string
	}{
		{"the password of a JSON credential secret", "aws-sm:prod/otter/panos#password", panosPassword},
		{"the username of the same secret", "aws-sm:prod/otter/panos#username", "admin"},
		{"another platform's secret", "aws-sm:prod/otter/f5#password", f5Password},
		{"a raw string secret read whole", "aws-sm:prod/otter/slack", slackToken},
		{"the current stage named explicitly", "aws-sm:prod/otter/slack@AWSCURRENT", slackToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.resolver.Resolve(tt.ref)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%s) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
	assertNoSecret(t, "the log", f.log.String())
	if !strings.Contains(f.log.String(), "aws-sm:prod/otter/panos") {
		t.Errorf("the log names no reference read:\n%s", f.log)
	}
}

func TestResolveReadsAVersionStage(t *testing.T) {
	f := newFixture(t, nil)
	f.sm.Put("prod/otter/rotated", `{"password":"`+oldPassword+`"}`)
	f.sm.Put("prod/otter/rotated", `{"password":"`+panosPassword+`"}`)
	for ref, want := range map[string]string{
		"aws-sm:prod/otter/rotated#password":             panosPassword,
		"aws-sm:prod/otter/rotated#password@AWSPREVIOUS": oldPassword,
	} {
		got, err := f.resolver.Resolve(ref)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", ref, got, err, want)
		}
	}
	stages := map[string]bool{}
	for _, c := range f.sm.Calls() {
		stages[c.VersionStage] = true
	}
	if !stages["AWSPREVIOUS"] || !stages[""] {
		t.Errorf("Secrets Manager was asked for stages %v, want the default and AWSPREVIOUS", stages)
	}
}

func TestResolveRefusesBadSecrets(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name, ref, wantErr string
	}{
		{"a secret missing its key", "aws-sm:prod/otter/panos#token", `secret aws-sm:prod/otter/panos#token: the secret has no key "token" (it has "password", "username")`},
		{"a key of a secret that is not JSON", "aws-sm:prod/otter/slack#password", `secret aws-sm:prod/otter/slack#password: the secret is not a JSON object`},
		{"a key of a JSON secret that is not an object", "aws-sm:prod/otter/list#password", `the secret is not a JSON object`},
		{"a key that holds a number", "aws-sm:prod/otter/numbers#port", `the secret's key "port" holds a number, not a string`},
		{"a secret that does not exist", "aws-sm:prod/otter/nothing", `secret aws-sm:prod/otter/nothing: Secrets Manager has no secret prod/otter/nothing`},
		{"a stage that does not exist", "aws-sm:prod/otter/panos#password@AWSPENDING", `has no secret prod/otter/panos with a version staged AWSPENDING`},
		{"a malformed reference", "aws-sm:#password", `names no secret`},
		{"an empty key", "aws-sm:prod/otter/panos#", `has an empty key after #`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.resolver.Resolve(tt.ref)
			if err == nil {
				t.Fatalf("Resolve(%s) = %q, want an error", tt.ref, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve(%s) error:\n  %v\nwant it to contain\n  %s", tt.ref, err, tt.wantErr)
			}
			assertNoSecret(t, "the error", err.Error())
		})
	}
	assertNoSecret(t, "the log", f.log.String())
}

func TestResolveRefusedCredentials(t *testing.T) {
	f := newFixture(t, func(c *awssm.Config) { c.SecretAccessKey = "not-the-key" })
	_, err := f.resolver.Resolve("aws-sm:prod/otter/panos#password")
	if err == nil || !strings.Contains(err.Error(), "Secrets Manager refused the AWS credentials") {
		t.Fatalf("Resolve with a wrong secret key: %v, want the credentials refused", err)
	}
	if calls := f.sm.Calls(); len(calls) == 0 || calls[0].Status != 400 {
		t.Errorf("the emulator answered %+v, want a refused signature", calls)
	}
}

func TestResolveWhenSecretsManagerIsDown(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.resolver.Resolve("aws-sm:prod/otter/f5#password"); err != nil {
		t.Fatal(err)
	}
	f.sm.Close()
	_, err := f.resolver.Resolve("aws-sm:prod/otter/panos#password")
	if err == nil {
		t.Fatal("Resolve with Secrets Manager down succeeded")
	}
	if !strings.Contains(err.Error(), "secret aws-sm:prod/otter/panos#password: cannot reach Secrets Manager at "+f.sm.URL()) ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say the endpoint refused the connection", err)
	}
	// A value read before the store went down is still in the cache.
	if got, err := f.resolver.Resolve("aws-sm:prod/otter/f5#password"); err != nil || got != f5Password {
		t.Errorf("a cached value = %q, %v; want it served while fresh", got, err)
	}
	// ... until its TTL is over: then the rotation that needs it fails.
	f.clock.Add(6 * time.Minute)
	if _, err := f.resolver.Resolve("aws-sm:prod/otter/f5#password"); err == nil {
		t.Error("a stale value was served while the store is down")
	}
}

func TestCacheReadsEachSecretOnceWithinTheTTL(t *testing.T) {
	f := newFixture(t, nil)
	for range 3 {
		for _, ref := range []string{"aws-sm:prod/otter/panos#username", "aws-sm:prod/otter/panos#password"} {
			if _, err := f.resolver.Resolve(ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(f.sm.Calls()); n != 1 {
		t.Errorf("six lookups of two keys of one secret made %d calls, want 1", n)
	}
	f.sm.Put("prod/otter/panos", `{"username":"admin","password":"`+oldPassword+`"}`)
	if got, _ := f.resolver.Resolve("aws-sm:prod/otter/panos#password"); got != panosPassword {
		t.Errorf("within the TTL the cached password is expected, got another")
	}
	f.clock.Add(5 * time.Minute)
	if got, _ := f.resolver.Resolve("aws-sm:prod/otter/panos#password"); got != oldPassword {
		t.Errorf("after the TTL the password stored since is expected, got another")
	}
	if n := len(f.sm.Calls()); n != 2 {
		t.Errorf("after the TTL %d calls were made, want 2", n)
	}
}

func TestConcurrentLookupsShareOneRead(t *testing.T) {
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if got, err := f.resolver.Resolve("aws-sm:prod/otter/panos#password"); err != nil || got != panosPassword {
				errs <- errors.Join(err, errors.New("wrong value"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(f.sm.Calls()); n != 1 {
		t.Errorf("20 concurrent lookups made %d calls, want 1", n)
	}
}

func TestNewRefusesHalfACredential(t *testing.T) {
	if _, err := awssm.New(awssm.Config{AccessKeyID: "AKIA"}); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("New with an access key and no secret key: %v", err)
	}
}
