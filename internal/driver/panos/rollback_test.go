package panos

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

func TestRollbackCommitsTheWholeLoadedConfigurationWithForce(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	// Alice's change is pending when Install saves the snapshot, so the
	// snapshot holds it, and the rollback's full commit commits it.
	const alicesTag = "/config/shared/tag/entry[@name='pending-by-alice']"
	if err := f.dev.StageCandidate("alice", "/config/shared/tag", `<entry name="pending-by-alice"><color>color1</color></entry>`); err != nil {
		t.Fatal(err)
	}
	old := f.served(t)
	sess := f.open(t, newDriver(), f.target)
	installed, err := sess.Install(ctx, f.issue(t, sess))
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	commitsBefore := len(requestsWith(f.dev, "commit", ""))
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	commits := requestsWith(f.dev, "commit", "")[commitsBefore:]
	if len(commits) != 1 {
		t.Fatalf("the rollback sent %d commits, want 1", len(commits))
	}
	if commits[0].Cmd != "<commit><force></force></commit>" || commits[0].Action != "" {
		t.Errorf("the rollback committed with action=%q cmd=%s, want a full force commit <commit><force></force></commit>", commits[0].Action, commits[0].Cmd)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Errorf("after Rollback the device serves %q (serial %x), want the certificate from before Install", served[0].Subject.CommonName, served[0].SerialNumber)
	}
	if _, live := f.dev.Running(alicesTag); !live {
		t.Error("the change alice had pending when the snapshot was taken is not committed; docs/drivers.md says it is")
	}
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Errorf("a second Rollback: %v", err)
	}
}

func TestARollbackCommitThatIsNotADoneJobFails(t *testing.T) {
	loaded := `<response status="success"><result><msg><line>Config loaded from ottr-x.xml</line></msg></result></response>`
	for _, tc := range []struct {
		name   string
		commit string
		job    string
		want   []string
	}{
		{
			name:   "the device commits nothing",
			commit: `<response status="success" code="19"><msg><line>There are no changes to commit.</line></msg></response>`,
			want:   []string{"rollback to snapshot ottr-x.xml", "committed nothing", "There are no changes to commit."},
		},
		{
			name:   "an answer without a job or a known message is shown as it came",
			commit: `<response status="success" code="19"><result><weird>queued somewhere</weird></result></response>`,
			want:   []string{"rollback to snapshot ottr-x.xml", "no job ID", "queued somewhere"},
		},
		{
			name:   "the commit job fails",
			commit: `<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid 5</line></msg><job>5</job></result></response>`,
			job: `<response status="success"><result><job><id>5</id><type>Commit</type><status>FIN</status><result>FAIL</result>` +
				`<details><line>Validation Error: ssl-tls-service-profile -&gt; ottr is invalid</line></details></job></result></response>`,
			want: []string{"rollback to snapshot ottr-x.xml", "commit job 5 finished with result FAIL", "ssl-tls-service-profile -> ottr is invalid"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := loaded
			if tc.job != "" {
				op = tc.job
			}
			c := cannedByType(t, http.StatusOK, map[string]string{"commit": tc.commit, "op": op})
			s := testSession(c, Config{PollInterval: time.Millisecond})
			err := s.Rollback(context.Background(), map[string]string{handleSnapshot: "ottr-x.xml"})
			if err == nil {
				t.Fatal("Rollback succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// commitFirst wraps the session's transport so that, right before the
// driver's first commit reaches the device, another commit of everything
// is sent: an administrator committing all pending changes in between.
func commitFirst(t *testing.T, f *fixture, sess *session) {
	t.Helper()
	key := apiKey(t, f)
	inner := sess.c.http.Transport
	var done bool
	sess.c.http.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, _ := url.ParseQuery(string(body)); form.Get("type") == "commit" && !done {
			done = true
			full := url.Values{"type": {"commit"}, "cmd": {"<commit></commit>"}}
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), strings.NewReader(full.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-PAN-KEY", key)
			resp, err := inner.RoundTrip(req)
			if err != nil {
				return nil, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		return inner.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestInstallAcceptsNothingToCommitOnlyWhenTheCertificateIsInService(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	sess := f.open(t, newDriver(), f.target)
	chain := f.issue(t, sess)
	commitFirst(t, f, sess)
	if _, err := sess.Install(ctx, chain); err != nil {
		t.Fatalf("Install, whose changes another commit took first: %v", err)
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Errorf("the device serves %q, want the installed certificate", served[0].Subject.CommonName)
	}
	// The driver's own commit found nothing to commit, so it read the
	// running configuration back before calling the install done.
	requests := f.dev.Requests()
	last := slices.IndexFunc(requests, func(r panoslab.Request) bool { return r.Type == "commit" && r.Action == "partial" })
	if last < 0 {
		t.Fatal("the driver sent no partial commit")
	}
	readBack := slices.ContainsFunc(requests[last:], func(r panoslab.Request) bool {
		return r.Type == "config" && r.Action == "show" && r.XPath == managementBinding
	})
	if !readBack {
		t.Error("after a commit with nothing to commit the driver did not read the running binding back")
	}
}

func TestNothingToCommitWithTheCertificateNotInServiceFailsTheInstall(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	sess := f.open(t, newDriver(), f.target)
	chain := f.issue(t, sess)
	err := sess.inService(ctx, "ottr-fw1-example-test-20260101-000000-abcd", chain[0])
	for _, want := range []string{"binds the management interface to SSL/TLS service profile", panoslab.InitialCertificateName, `not "ottr"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("inService = %v, want an error containing %q", err, want)
		}
	}
}
