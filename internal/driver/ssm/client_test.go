package ssm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

// pollsPerCommand counts the GetCommandInvocation calls for each command
// the endpoint received.
func pollsPerCommand(t *testing.T, svc *ssmlab.Service) map[string]int {
	t.Helper()
	polls := map[string]int{}
	for _, r := range svc.Requests() {
		if r.Operation != "GetCommandInvocation" {
			continue
		}
		var in struct{ CommandId string }
		if err := json.Unmarshal(r.Body, &in); err != nil {
			t.Fatal(err)
		}
		polls[in.CommandId]++
	}
	return polls
}

func TestCommandsArePolledUntilTheyFinish(t *testing.T) {
	f := newFixture(t)
	// A pre hook that takes a while keeps the command in progress beyond
	// the emulator's first answers.
	writeHook(t, f, "pre", "10-slow.sh", "sleep 0.3", 0o755)
	sess := f.open(t, newTestDriver())
	if _, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t))); err != nil {
		t.Fatalf("Install: %v", err)
	}
	polls := pollsPerCommand(t, f.svc)
	if len(polls) != 2 {
		t.Fatalf("polled %d commands, want 2 (CSR and install)", len(polls))
	}
	for id, n := range polls {
		// The first poll finds no invocation yet, the second finds it
		// in progress; only a later one can see it finished.
		if n < 3 {
			t.Errorf("command %s was polled %d times, want at least 3", id, n)
		}
	}
}

func TestCancellingTheContextCancelsTheCommand(t *testing.T) {
	f := newFixture(t)
	abandonACommand(t, f, f.open(t, newTestDriver()))
}

func TestOpenHonoursACancelledContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newTestDriver().Open(ctx, f.target, f.creds); !errors.Is(err, context.Canceled) {
		t.Errorf("Open error = %v, want context.Canceled", err)
	}
}

func TestRequestsWithBadCredentialsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		creds  driver.Credentials
		lookup string // instance_id_from
		want   string
	}{
		{"EC2 refuses a wrong secret access key", driver.Credentials{Username: testAccessKeyID, Password: "wrong-secret-Zx9"}, "name-tag", "SignatureDoesNotMatch"},
		{"EC2 refuses an unknown access key", driver.Credentials{Username: "AKIAUNKNOWN000000000", Password: "wrong-secret-Zx9"}, "name-tag", "AuthFailure"},
		{"SSM refuses a wrong secret access key", driver.Credentials{Username: testAccessKeyID, Password: "wrong-secret-Zx9"}, "asset-field", "InvalidSignatureException"},
		{"SSM refuses an unknown access key", driver.Credentials{Username: "AKIAUNKNOWN000000000", Password: "wrong-secret-Zx9"}, "asset-field", "UnrecognizedClientException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.target.Options["instance_id_from"] = tc.lookup
			f.target.Asset.Labels = map[string]string{"instance_id": f.inst.ID()}
			sess, err := newTestDriver().Open(context.Background(), f.target, tc.creds)
			if err == nil {
				_, err = sess.CurrentCertificate(context.Background())
			}
			if err == nil {
				t.Fatal("the endpoint accepted bad credentials")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not carry AWS's %s", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.creds.Password) || strings.Contains(err.Error(), testSecretAccessKey) {
				t.Errorf("error %q carries a secret", err)
			}
			if f.inst.Commands() != 0 {
				t.Error("the instance ran a command")
			}
		})
	}
}

func TestTheSecretAccessKeyNeverCrossesTheWire(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	installed, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t)))
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := sess.Rollback(context.Background(), installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	requests := f.svc.Requests()
	if len(requests) == 0 {
		t.Fatal("the endpoint recorded no requests")
	}
	for _, r := range requests {
		if strings.Contains(r.URL, testSecretAccessKey) || strings.Contains(string(r.Body), testSecretAccessKey) {
			t.Errorf("%s carries the secret access key in its URL or body", r.Operation)
		}
		for name, values := range r.Header {
			if strings.Contains(strings.Join(values, " "), testSecretAccessKey) {
				t.Errorf("%s carries the secret access key in header %s", r.Operation, name)
			}
		}
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testAccessKeyID+"/") {
			t.Errorf("%s is not signed with SigV4 by the access key: %q", r.Operation, auth)
		}
	}
}

func TestTheEndpointCertificateIsVerified(t *testing.T) {
	f := newFixture(t)
	delete(f.target.Options, "ca_file")
	_, err := newTestDriver().Open(context.Background(), f.target, f.creds)
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("Open without ca_file = %v, want a certificate verification error", err)
	}
}

func TestCommandErrorSaysWhatSSMReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  CommandError
		want string
	}{
		{
			"a failed script gives its exit code and last lines",
			CommandError{CommandID: "c1", InstanceID: "i-1", Status: "Failed", StatusDetails: "Failed", ResponseCode: 2, Stderr: "boom"},
			"SSM command c1 on i-1: Failed, exit code 2: boom",
		},
		{
			"a timed-out command gives SSM's details and no exit code",
			CommandError{CommandID: "c1", InstanceID: "i-1", Status: "TimedOut", StatusDetails: "Execution Timed Out", ResponseCode: -1},
			"SSM command c1 on i-1: TimedOut (Execution Timed Out)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTailDropsTheAgentsExitLineAndWithholdsKeys(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"keeps the last lines, joined", "a\nb\n\nc\n", "a; b; c"},
		{"drops the agent's own line", "openssl: bad\nfailed to run commands: exit status 1\n", "openssl: bad"},
		{"withholds output holding a key", "-----BEGIN PRIVATE KEY-----\nMIGH\n", "[output withheld: it contained a private key]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tail([]byte(tc.in), stderrTailLines); got != tc.want {
				t.Errorf("tail(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWithoutCredentialsTheSDKDefaultChainIsUsed(t *testing.T) {
	f := newFixture(t)
	// The chain's first source is the environment; keep the machine's own
	// files and the instance metadata service out of it.
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretAccessKey)
	sess, err := newTestDriver().Open(context.Background(), f.target, driver.Credentials{})
	if err != nil {
		t.Fatalf("Open with the default chain: %v", err)
	}
	if _, err := sess.CurrentCertificate(context.Background()); err != nil {
		t.Errorf("CurrentCertificate with the default chain: %v", err)
	}
}

func TestHalfAKeyPairIsRefused(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		creds driver.Credentials
		want  string
	}{
		{"an access key ID without its secret", driver.Credentials{Username: testAccessKeyID}, "without its secret access key"},
		{"a secret without its access key ID", driver.Credentials{Password: testSecretAccessKey}, "without its access key ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTestDriver().Open(context.Background(), f.target, tc.creds)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), testSecretAccessKey) {
				t.Errorf("Open error = %v, want one saying %q without the secret", err, tc.want)
			}
		})
	}
}
