package secret

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		name, text string
		want       Ref
		wantErr    string
	}{
		{"a plain Secrets Manager secret", "aws-sm:prod/otter/slack", Ref{Scheme: SchemeAWS, Name: "prod/otter/slack"}, ""},
		{"a key of a JSON secret", "aws-sm:prod/otter/panos#password", Ref{Scheme: SchemeAWS, Name: "prod/otter/panos", Key: "password"}, ""},
		{"a key at a version stage", "aws-sm:prod/otter/panos#password@AWSPREVIOUS", Ref{Scheme: SchemeAWS, Name: "prod/otter/panos", Key: "password", Stage: "AWSPREVIOUS"}, ""},
		{"a whole secret at a stage", "aws-sm:prod/otter/slack@AWSPENDING", Ref{Scheme: SchemeAWS, Name: "prod/otter/slack", Stage: "AWSPENDING"}, ""},
		{"a name holding @ written with its stage", "aws-sm:team@example#password@AWSCURRENT", Ref{Scheme: SchemeAWS, Name: "team@example", Key: "password", Stage: "AWSCURRENT"}, ""},
		{"an ARN", "aws-sm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/otter/f5-AbCdEf#username",
			Ref{Scheme: SchemeAWS, Name: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/otter/f5-AbCdEf", Key: "username"}, ""},
		{"a Vault field", "vault:secret/otter/panos#password", Ref{Scheme: SchemeVault, Name: "secret/otter/panos", Key: "password"}, ""},
		{"a Vault path with slashes around", "vault:/secret/otter/panos/#password", Ref{Scheme: SchemeVault, Name: "secret/otter/panos", Key: "password"}, ""},
		{"a value with a colon is literal", "pass:word", Ref{}, ""},
		{"an aws-sm reference without a name", "aws-sm:", Ref{}, "names no secret"},
		{"an aws-sm reference with an empty key", "aws-sm:prod/otter/panos#", Ref{}, "has an empty key after #"},
		{"an empty stage", "aws-sm:prod/otter/panos#password@", Ref{}, `"" after the last @ is not a version stage`},
		{"a vault reference without a path", "vault:secret#password", Ref{}, "needs a mount and a path"},
		{"a vault reference without a key", "vault:secret/otter/panos", Ref{}, "names no key"},
		{"a vault path with an empty segment", "vault:secret/otter//panos#password", Ref{}, "empty path segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRef(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want an error naming the reference and saying %q", tt.text, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.text = ""
			if got != tt.want {
				t.Errorf("ParseRef(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

func TestLookalike(t *testing.T) {
	for value, want := range map[string]string{
		"awssm:prod/otter/panos#password": AWSPrefix,
		"OpenBao:secret/x#y":              VaultPrefix,
		"environ:HOME":                    EnvPrefix,
		"correct:horse:battery":           "",
		"no colon at all":                 "",
	} {
		if got := Lookalike(value); got != want {
			t.Errorf("Lookalike(%q) = %q, want %q", value, got, want)
		}
	}
}

// sourceFunc is a Source made of a function.
type sourceFunc func(ctx context.Context, ref Ref) (Document, error)

func (f sourceFunc) Fetch(ctx context.Context, ref Ref) (Document, error) { return f(ctx, ref) }

func TestAStoreThatHangsHoldsUpOnlyItsOwnReferences(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var hung atomic.Bool
	hanging := sourceFunc(func(ctx context.Context, ref Ref) (Document, error) {
		hung.Store(true)
		select {
		case <-ctx.Done():
			return Document{}, ctx.Err()
		case <-release:
			return Document{Fields: map[string]any{"password": "never"}}, nil
		}
	})
	working := sourceFunc(func(ctx context.Context, ref Ref) (Document, error) {
		return Document{Text: `{"password":"fine"}`}, nil
	})
	r := NewResolver(ResolverOptions{
		Sources: map[string]Source{SchemeVault: hanging, SchemeAWS: working},
		Timeout: time.Hour,
	})
	stuck := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := r.ResolveContext(ctx, "vault:secret/otter/f5#password")
		stuck <- err
	}()
	for !hung.Load() {
		time.Sleep(time.Millisecond)
	}
	// While Vault hangs, Secrets Manager answers.
	if got, err := r.Resolve("aws-sm:prod/otter/panos#password"); err != nil || got != "fine" {
		t.Fatalf("with another store hanging: %q, %v", got, err)
	}
	cancel()
	err := <-stuck
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "secret vault:secret/otter/f5#password: ") {
		t.Errorf("the hung read ended with %v, want the caller's cancellation naming the reference", err)
	}
}

func TestAReadPastTheTimeoutSaysSo(t *testing.T) {
	hanging := sourceFunc(func(ctx context.Context, ref Ref) (Document, error) {
		<-ctx.Done()
		return Document{}, ctx.Err()
	})
	r := NewResolver(ResolverOptions{Sources: map[string]Source{SchemeAWS: hanging}, Timeout: 10 * time.Millisecond})
	_, err := r.Resolve("aws-sm:prod/otter/panos#password")
	if err == nil || !strings.Contains(err.Error(), "secret aws-sm:prod/otter/panos#password: no answer within 10ms (secrets.timeout)") {
		t.Errorf("a read past the timeout: %v", err)
	}
}

func TestAFailedReadIsNotCached(t *testing.T) {
	var calls atomic.Int32
	flaky := sourceFunc(func(ctx context.Context, ref Ref) (Document, error) {
		if calls.Add(1) == 1 {
			return Document{}, errors.New("throttled")
		}
		return Document{Text: "token"}, nil
	})
	r := NewResolver(ResolverOptions{Sources: map[string]Source{SchemeAWS: flaky}})
	if _, err := r.Resolve("aws-sm:prod/otter/slack"); err == nil {
		t.Fatal("the first read should fail")
	}
	if got, err := r.Resolve("aws-sm:prod/otter/slack"); err != nil || got != "token" {
		t.Errorf("the read after a failure: %q, %v; want the store asked again", got, err)
	}
}

func TestACallerGivingUpDoesNotFailTheOthersWaitingForTheRead(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	slow := sourceFunc(func(ctx context.Context, ref Ref) (Document, error) {
		calls.Add(1)
		select {
		case <-ctx.Done():
			return Document{}, ctx.Err()
		case <-release:
			return Document{Fields: map[string]any{"password": "waited-for"}}, nil
		}
	})
	r := NewResolver(ResolverOptions{Sources: map[string]Source{SchemeVault: slow}, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := r.ResolveContext(ctx, "vault:secret/otter/f5#password")
		first <- err
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	second := make(chan string, 1)
	go func() {
		v, _ := r.Resolve("vault:secret/otter/f5#password")
		second <- v
	}()
	close(release)
	if got := <-second; got != "waited-for" {
		t.Errorf("the caller still waiting got %q, want the value of the read under way", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the store was read %d times, want once", n)
	}
}
