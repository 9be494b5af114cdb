package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/cli"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

func TestUserCreate(t *testing.T) {
	cfg := workspace(t)
	out, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "admin")
	if code != 0 || !strings.Contains(out, "created admin (ADMIN)") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if list := mustRun(t, "-c", cfg, "user", "list"); !regexp.MustCompile(`(?m)^admin +ADMIN `).MatchString(list) {
		t.Errorf("user list: %q", list)
	}
	_, errOut, code = run(t, "weak\n", "-c", cfg, "user", "create", "bob", "--role", "DEVELOPER")
	if code == 0 || !strings.Contains(errOut, "8") {
		t.Errorf("a weak password: exit %d, %q", code, errOut)
	}
	_, errOut, code = run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "carol", "--role", "ROOT")
	if code == 0 || !strings.Contains(errOut, "ADMIN") {
		t.Errorf("an unknown role: exit %d, %q", code, errOut)
	}
	if strings.Contains(errOut, "Str0ng!pass") {
		t.Error("the password appears in an error")
	}
}

func TestServeRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	cfg := workspace(t)
	_, errOut, code := run(t, "", "-c", cfg, "serve", "--listen", "0.0.0.0:0")
	if code == 0 || !strings.Contains(errOut, "--tls-cert") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestServeAnswersTheAPI(t *testing.T) {
	cfg := workspace(t)
	if _, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatal(errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut output.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"-c", cfg, "--log-level", "info", "serve", "--listen", "127.0.0.1:0"}, strings.NewReader(""), &out, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	}()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("serve did not start: %s%s", out.String(), errOut.String())
	}
	resp, err := http.Post(base+"/user/v1/authenticate", "application/json", strings.NewReader(`{"username":"admin","password":"Str0ng!pass"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(tok.Token, "Bearer ") {
		t.Fatalf("authenticate: %d %+v", resp.StatusCode, tok)
	}
	req, _ := http.NewRequest("GET", base+"/admin/v1/users", nil)
	req.Header.Set("Authorization", tok.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /admin/v1/users with the token: %d\n%s", resp.StatusCode, errOut.String())
	}
}
