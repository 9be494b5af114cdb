package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

// storedSecrets are the secrets of TestNoAnswerOfTheAPIHoldsASecret, by
// where they are held.
type storedSecrets struct {
	applianceToken, slackToken, panosPassword string // Secrets Manager
	pin                                       string // a file
	hookSecret, consolePassword               string // the environment
	tsig, sshKey                              string // Secrets Manager, the lab's own
}

func (s storedSecrets) all() map[string]string {
	return map[string]string{
		"the appliance's API token (aws-sm:)": s.applianceToken, "the Slack token (aws-sm:)": s.slackToken,
		"the PAN-OS password (aws-sm:)": s.panosPassword, "the appliance's PIN (file:)": s.pin,
		"the webhook secret (env:)": s.hookSecret, "the console password (env:)": s.consolePassword,
		"the TSIG secret (aws-sm:)": s.tsig, "the SSH private key (aws-sm:)": s.sshKey,
	}
}

// Every secret of the configuration, held in Secrets Manager (device
// logins, a route's secret option, TSIG, a channel's token) or in the
// environment and files (a route's option, a channel's secret, a
// password), is absent from every answer of every GET operation the API
// describes, for every role, after rotations that used them and failed
// with a script printing them.
func TestNoAnswerOfTheAPIHoldsASecret(t *testing.T) {
	for _, tool := range []string{"sh", "openssl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the appliance's scripts need %s on PATH: %v", tool, err)
		}
	}
	l := labFor(t)
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	sshKey, err := os.ReadFile(strings.TrimPrefix(cfg.Credentials["default"].PrivateKey, "file:"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := storedSecrets{
		applianceToken: "tok-StoredAppliance-4b1d9e", slackToken: "xoxb-9999-0000-ottrstoredslack",
		panosPassword: "pw-StoredPanos-11e7c2", pin: "pin-FileAppliance-82c6",
		hookSecret: "whsec-EnvHook-5f0a33d1", consolePassword: "pw-EnvConsole-3c9d70",
		tsig: l.TSIGSecret, sshKey: string(sshKey),
	}
	sm := startStore(t, secrets)
	t.Setenv("OTTR_TEST_SM_ACCESS_KEY_ID", sm.AccessKeyID())
	t.Setenv("OTTR_TEST_SM_SECRET_ACCESS_KEY", sm.SecretAccessKey())
	t.Setenv("OTTR_TEST_HOOK_SECRET", secrets.hookSecret)
	t.Setenv("OTTR_TEST_CONSOLE_PASSWORD", secrets.consolePassword)
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(secrets.pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	slack := notifytest.NewSlack(t, secrets.slackToken)
	hook := notifytest.NewWebhook(t, secrets.hookSecret)
	scripts, deviceDir, port := startAppliance(t)

	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	cfg.Secrets.AWS = config.SecretsAWS{
		Region: sm.Region(), Endpoint: sm.URL(),
		AccessKeyID: "env:OTTR_TEST_SM_ACCESS_KEY_ID", SecretAccessKey: "env:OTTR_TEST_SM_SECRET_ACCESS_KEY",
	}
	cfg.DNS.RFC2136.TSIGSecret = "aws-sm:prod/ottr/tsig"
	cfg.Credentials["default"] = config.Credential{Username: cfg.Credentials["default"].Username, PrivateKey: "aws-sm:prod/otter/linux#private_key"}
	cfg.Credentials["panos"] = config.Credential{Username: "aws-sm:prod/otter/panos#username", Password: "aws-sm:prod/otter/panos#password"}
	cfg.Credentials["console"] = config.Credential{Username: "ops", Password: "env:OTTR_TEST_CONSOLE_PASSWORD"}
	appliance := secretRoute(scripts, deviceDir, pinFile)
	appliance.Options["env"] = map[string]any{"API_TOKEN": "aws-sm:prod/otter/appliance#token", "PIN": "file:" + pinFile}
	cfg.Routes = append(cfg.Routes, appliance)
	cfg.Notifications.Channels = map[string]config.NotifyChannel{
		"pki":   {Kind: "slack", Token: "aws-sm:prod/otter/slack", Channel: "#pki-alerts", URL: slack.APIURL(), CAFile: slack.CAFile()},
		"audit": {Kind: "webhook", URL: hook.URL(), Secret: "env:OTTR_TEST_HOOK_SECRET", CAFile: hook.CAFile()},
	}

	logs := &output.Buffer{}
	c := serveLab(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	roles := []string{store.RoleDeveloper, store.RolePrivileged, store.RoleAdmin}

	// The appliance fails once, its script printing the token and PIN,
	// then succeeds; a lab host is rotated with the SSH key and TSIG
	// secret read from Secrets Manager.
	applianceName := "appliance." + lab.DeviceZone
	delegateName(t, l, applianceName)
	host := l.Assets[0]
	c.putAsset(assetRequest(asset.Asset{
		SystemName: applianceName, CommonName: applianceName, SubjectAlternativeName: []string{applianceName},
		CertificateAuthority: lab.CAName, DataCenter: "dc1", DeviceModel: "appliance", HostPlatform: "appliance",
		IPAddress: "127.0.0.1", OSVersion: "1", Port: port,
	}))
	c.putAsset(assetRequest(host))
	if err := os.WriteFile(filepath.Join(deviceDir, "fail"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	failed := c.rotate(applianceName)
	if failed.State != store.StateFailed || !strings.Contains(failed.Error, "device: token [redacted] pin [redacted]") {
		t.Errorf("rotation with a failing script: %s, error %q; want failed, with the script's line redacted", failed.State, failed.Error)
	}
	if err := os.Remove(filepath.Join(deviceDir, "fail")); err != nil {
		t.Fatal(err)
	}
	rotations := []rotationView{failed}
	for _, name := range []string{applianceName, host.SystemName} {
		done := c.rotate(name)
		if done.State != store.StateSucceeded {
			t.Fatalf("rotation of %s: %s: %s", name, done.State, done.Error)
		}
		rotations = append(rotations, done)
	}
	for deadline := time.Now().Add(2 * time.Minute); len(slack.Messages()) == 0 || len(hook.Deliveries()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the failure reached Slack %d times and the webhook %d times in 2 minutes, want both, with the token from Secrets Manager and the secret from the environment",
				len(slack.Messages()), len(hook.Deliveries()))
		}
	}

	c.answers.Reset()
	params := map[string][]string{
		"system_name": {applianceName, host.SystemName},
		"username":    {"developer", "privileged", "admin"},
	}
	for _, r := range rotations {
		params["id"] = append(params["id"], strconv.FormatInt(r.ID, 10))
	}
	paths := c.getPaths()
	for _, role := range roles {
		for _, path := range paths {
			c.current = path
			for _, url := range expand(path, params) {
				c.call(role, http.MethodGet, url, nil)
			}
		}
		c.current = ""
		c.call(role, http.MethodGet, "/api/v1/rotations?asset="+applianceName, nil)
		c.call(role, http.MethodPost, "/api/v1/plan", nil)
	}
	for _, path := range paths {
		if !c.answered[path] && !slices.Contains([]string{"/healthz", "/readyz"}, path) {
			t.Errorf("GET %s answered no role with a 2xx, so it was not checked", path)
		}
	}
	answers := c.answers.String()
	if !strings.Contains(answers, "aws-sm:prod/otter/appliance#token") {
		t.Error("the ADMIN's routes do not show the reference, so the answers were not read")
	}
	for what, text := range map[string]string{"an API answer": answers, "a log line": logs.String()} {
		for name, value := range secrets.all() {
			if strings.Contains(text, value) || strings.Contains(text, strings.TrimSpace(value)) {
				t.Errorf("%s holds %s", what, name)
			}
		}
	}
	if !strings.Contains(logs.String(), "rotation") {
		t.Errorf("nothing was logged, so the check of the logs proves nothing:\n%s", logs.String())
	}
}

// startStore starts Secrets Manager holding s as Ottr keeps its secrets:
// a login as a JSON object, a token as the raw string.
func startStore(t *testing.T, s storedSecrets) *awssmlab.Server {
	t.Helper()
	object := func(fields map[string]string) string {
		js, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return string(js)
	}
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{
		"prod/otter/appliance": object(map[string]string{"token": s.applianceToken}),
		"prod/otter/slack":     s.slackToken,
		"prod/otter/panos":     object(map[string]string{"username": "admin", "password": s.panosPassword}),
		"prod/otter/linux":     object(map[string]string{"private_key": s.sshKey}),
		"prod/ottr/tsig":       s.tsig,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	return sm
}

// delegateName points name's ACME challenge at the lab's delegate zone.
func delegateName(t *testing.T, l *lab.Lab, name string) {
	t.Helper()
	delegations, err := dnsdelegate.New(map[string]string{lab.DeviceZone: lab.DelegateZone})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := delegations.Record(name)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := dns.NewRR(rec.ZoneLine())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DNS.SetRecord(rr); err != nil {
		t.Fatal(err)
	}
}

// assetRequest is a as PUT /api/v1/assets takes it.
func assetRequest(a asset.Asset) map[string]any {
	return map[string]any{
		"system_name": a.SystemName, "common_name": a.CommonName, "subject_alternative_name": a.SubjectAlternativeName,
		"certificate_authority": a.CertificateAuthority, "data_center": a.DataCenter, "device_model": a.DeviceModel,
		"host_platform": a.HostPlatform, "ip_address": a.IPAddress, "os_version": a.OSVersion, "port": a.Port,
	}
}

// serveLab serves the API of cfg, its queue started, until the test ends,
// and returns a client logged in as each role.
func serveLab(t *testing.T, cfg *config.Config, logger *slog.Logger) *secretClient {
	t.Helper()
	ctx := context.Background()
	ap, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	q, _, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(ctx, Config{App: ap, Enqueuer: q, Logger: logger, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = q.Stop(stopCtx)
	})
	c := &secretClient{t: t, base: hs.URL, tokens: map[string]string{}}
	for _, role := range []string{store.RoleDeveloper, store.RolePrivileged, store.RoleAdmin} {
		c.login(ctx, ap, role)
	}
	return c
}

// secretClient calls the API as each role, keeping every answer.
type secretClient struct {
	t      *testing.T
	base   string
	tokens map[string]string
	// answers are every answer's body; answered, the paths that answered
	// some role with a 2xx.
	answers  bytes.Buffer
	answered map[string]bool
	current  string
}

func (c *secretClient) login(ctx context.Context, ap *app.App, role string) {
	c.t.Helper()
	user, password := strings.ToLower(role), "Pw!"+strings.ToLower(role)+"-1a"
	if err := createUser(ctx, ap.Store, user, password, role, bcrypt.MinCost); err != nil {
		c.t.Fatal(err)
	}
	status, body := pythonRequests(c.t, http.MethodPost, c.base+"/user/v1/authenticate", nil, map[string]string{"username": user, "password": password})
	var login tokenBody
	if status != http.StatusOK || json.Unmarshal(body, &login) != nil {
		c.t.Fatalf("login %s: %d %s", user, status, body)
	}
	c.tokens[role] = login.Token
}

func (c *secretClient) call(role, method, path string, body any) (int, []byte) {
	c.t.Helper()
	status, out := pythonRequests(c.t, method, c.base+path, map[string]string{"Authorization": c.tokens[role]}, body)
	c.answers.Write(out)
	if status >= 200 && status < 300 && c.current != "" {
		c.answered[c.current] = true
	}
	return status, out
}

func (c *secretClient) putAsset(body map[string]any) {
	c.t.Helper()
	if status, out := c.call(store.RolePrivileged, http.MethodPut, "/api/v1/assets", body); status != http.StatusCreated && status != http.StatusOK {
		c.t.Fatalf("PUT asset %s: %d %s", body["system_name"], status, out)
	}
}

// rotate rotates name and waits for the rotation to end.
func (c *secretClient) rotate(name string) rotationView {
	c.t.Helper()
	status, body := c.call(store.RolePrivileged, http.MethodPost, "/api/v1/certificate/rotate/"+name, nil)
	var started rotateBody
	switch {
	case status == http.StatusAccepted && json.Unmarshal(body, &started) == nil:
	case status == http.StatusConflict:
		// The scan found the new asset first: follow its rotation.
		var running struct {
			Errors []struct{ Value int64 } `json:"errors"`
		}
		if json.Unmarshal(body, &running) != nil || len(running.Errors) == 0 {
			c.t.Fatalf("rotate %s: %d %s", name, status, body)
		}
		started.StatusURL = rotationURL(running.Errors[0].Value)
	default:
		c.t.Fatalf("rotate %s: %d %s", name, status, body)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var view rotationView
		status, body := c.call(store.RoleDeveloper, http.MethodGet, started.StatusURL, nil)
		if status != http.StatusOK || json.Unmarshal(body, &view) != nil {
			c.t.Fatalf("rotation: %d %s", status, body)
		}
		if store.Final(view.State) {
			return view
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("rotation %d still %s after 2 minutes", view.ID, view.State)
		}
	}
}

// getPaths are the paths of every GET operation of the API's own
// description, and the description's own paths.
func (c *secretClient) getPaths() []string {
	c.t.Helper()
	status, body := pythonRequests(c.t, http.MethodGet, c.base+"/openapi.json", nil, nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &doc) != nil {
		c.t.Fatalf("GET /openapi.json: %d %.200s", status, body)
	}
	paths := []string{"/openapi.json", "/openapi.yaml", "/docs"}
	for path, operations := range doc.Paths {
		if _, ok := operations["get"]; ok {
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	if !slices.Contains(paths, "/api/v1/rotations/{id}") || !slices.Contains(paths, "/api/v1/routes") {
		c.t.Fatalf("the description's GET operations %v lack the routes and the rotations", paths)
	}
	c.answered = map[string]bool{}
	return paths
}

// expand fills path's {parameters} with each of their values.
func expand(path string, params map[string][]string) []string {
	urls := []string{path}
	for name, values := range params {
		var next []string
		for _, u := range urls {
			if !strings.Contains(u, "{"+name+"}") {
				next = append(next, u)
				continue
			}
			for _, v := range values {
				next = append(next, strings.ReplaceAll(u, "{"+name+"}", v))
			}
		}
		urls = next
	}
	return urls
}
