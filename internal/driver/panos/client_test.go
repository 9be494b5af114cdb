package panos

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cannedDevice answers every request after keygen with body and status:
// fixtures of what firewalls send.
func cannedDevice(t *testing.T, status int, body string) *client {
	t.Helper()
	return cannedByType(t, status, map[string]string{"*": body})
}

// cannedByType answers each request type with its body ("*": any other).
func cannedByType(t *testing.T, status int, bodies map[string]string) *client {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("type") == "keygen" {
			_, _ = w.Write([]byte(`<response status = 'success'><result><key>K3Y</key></result></response>`))
			return
		}
		body, ok := bodies[r.FormValue("type")]
		if !ok {
			body = bodies["*"]
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	c, err := newClient("127.0.0.1", p, caFile, "example.com", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	if err := c.keygen(context.Background(), "admin", "secret"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeviceErrorsCarryTheDevicesMessages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{
			name:   "lines in CDATA, as config errors come",
			status: http.StatusOK,
			body: `<response status="error" code="12"><msg><line><![CDATA[ ssl-tls-service-profile -> ottr -> certificate is invalid]]></line>` +
				`<line><![CDATA[ ottr is invalid]]></line></msg></response>`,
			want: []string{"PAN-OS error 12", "ssl-tls-service-profile -> ottr -> certificate is invalid", "ottr is invalid"},
		},
		{
			name:   "a message inside the result, as a rejected key comes",
			status: http.StatusForbidden,
			body:   `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`,
			want:   []string{"PAN-OS error 403", "Invalid Credential"},
		},
		{
			name:   "a bare message",
			status: http.StatusOK,
			body:   `<response status="error"><msg>Object doesn't exist</msg></response>`,
			want:   []string{"Object doesn't exist"},
		},
		{
			name:   "an error without any message names the HTTP status",
			status: http.StatusBadRequest,
			body:   `<response status="error" code="400"/>`,
			want:   []string{"PAN-OS error 400", "HTTP 400"},
		},
		{
			name:   "a page that is not an API answer",
			status: http.StatusBadGateway,
			body:   `<html><body>Bad Gateway</body></html>`,
			want:   []string{"HTTP 502", "not an XML API response", "Bad Gateway"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cannedDevice(t, tc.status, tc.body)
			err := c.set(context.Background(), "/config/shared", "<x/>")
			if err == nil {
				t.Fatal("the call succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestReadsTreatAMissingNodeAsAbsent(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"get answers code 7 with an empty result", `<response status="success" code="7"><result/></response>`},
		{"show answers No such node", `<response status="error" code="7"><msg><line>No such node</line></msg></response>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cannedDevice(t, http.StatusOK, tc.body)
			n, err := c.get(context.Background(), "/config/shared/certificate/entry[@name='x']")
			if err != nil || n != nil {
				t.Fatalf("get = %v, %v; want nothing and no error", n, err)
			}
		})
	}
}

func TestCommitAnswers(t *testing.T) {
	t.Run("no changes to commit is an answer without a job, with the device's words", func(t *testing.T) {
		c := cannedDevice(t, http.StatusOK, `<response status="success" code="19"><msg><line>There are no changes to commit.</line></msg></response>`)
		answer, err := c.commit(context.Background(), "partial", partialCommitCommand("ottr"))
		if err != nil || answer.job != "" || answer.nothing != "There are no changes to commit." {
			t.Fatalf("commit = %+v, %v; want no job, the device's words and no error", answer, err)
		}
	})
	t.Run("an enqueued commit returns its job", func(t *testing.T) {
		c := cannedDevice(t, http.StatusOK, `<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid 4711</line></msg><job>4711</job></result></response>`)
		answer, err := c.commit(context.Background(), "partial", partialCommitCommand("ottr"))
		if err != nil || answer.job != "4711" {
			t.Fatalf("commit = %+v, %v; want job 4711", answer, err)
		}
	})
	t.Run("a failed job's details make the error", func(t *testing.T) {
		c := cannedByType(t, http.StatusOK, map[string]string{
			"commit": `<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid 8</line></msg><job>8</job></result></response>`,
			"op": `<response status="success"><result><job><tenq>2018/06/12 09:26:45</tenq><id>8</id>` +
				`<type>Commit</type><status>FIN</status><result>FAIL</result><progress>100</progress><details><line>Validation Error:</line>` +
				`<line><![CDATA[ ssl-tls-service-profile -> ottr -> certificate 'x' is not a valid reference]]></line></details><warnings/></job></result></response>`,
		})
		s := testSession(c, Config{PollInterval: time.Millisecond})
		_, err := s.commitMine(context.Background())
		var jobErr *JobError
		if !errors.As(err, &jobErr) {
			t.Fatalf("commit = %v, want a *JobError", err)
		}
		for _, want := range []string{"commit job 8 finished with result FAIL", "Validation Error:", "certificate 'x' is not a valid reference"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
}

// testSession wraps a client in a session with the driver configuration.
func testSession(c *client, cfg Config) *session {
	d := New(cfg)
	return &session{drv: d, c: c, opts: &options{}, user: "ottr", log: d.cfg.Logger}
}

func TestWaitJobGivesUpAfterTheCommitTimeout(t *testing.T) {
	c := cannedDevice(t, http.StatusOK, `<response status="success"><result><job><id>9</id><status>ACT</status><result>PEND</result><progress>10</progress></job></result></response>`)
	s := testSession(c, Config{PollInterval: time.Millisecond, MaxPollInterval: time.Millisecond, CommitTimeout: 50 * time.Millisecond})
	_, err := s.waitJob(context.Background(), "9")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not finished after 50ms") {
		t.Fatalf("waitJob = %v, want a timeout naming the limit", err)
	}
}
