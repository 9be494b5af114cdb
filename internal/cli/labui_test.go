package cli_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestALabThatStaysUpServesTheWebUIWithALoginItPrints(t *testing.T) {
	ready := regexp.MustCompile(`web UI: (http://127\.0\.0\.1:\d+)/ui/ — log in as (\S+) with password (\S+)`)
	p := startChild(t, ready, "lab", "--devices", "1", "--keep", "--data", t.TempDir())
	m := ready.FindStringSubmatch(p.out.String())
	base, user, password := m[1], m[2], m[3]

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(body))
	if token == nil {
		t.Fatalf("no login form:\n%s", body)
	}
	resp, err = client.PostForm(base+"/ui/login", url.Values{"csrf": {token[1]}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("login with the printed password: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = client.Get(base + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "1 asset by state") {
		t.Errorf("the fleet page does not show the lab's device:\n%s", body)
	}
}
