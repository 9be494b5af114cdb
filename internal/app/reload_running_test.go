package app_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// A rotation that has passed preflight when the configuration is
// reloaded finishes on the route it started with, even when the reload
// breaks that route's install; the next rotation takes the reloaded route.
// The rotation is held inside its CSR step by a gate its generate_csr
// script waits on, so the reload lands mid-rotation whatever the timing.
func TestARotationRunningDuringAReloadFinishesWithItsRoute(t *testing.T) {
	for _, tool := range []string{"openssl", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the lab's script hosts need %s (Debian packages openssl and openssh-client)", tool)
		}
	}
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Options{Devices: 1, Platforms: []string{lab.PlatformScript}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	start := labConfig(t, l, dir)
	startRoute := scriptRoute(t, start).Name
	csrScript := scriptRoute(t, start).Options["generate_csr"].(string)
	scriptRoute(t, start).Options["generate_csr"] = writeScript(t, dir, "gated_generate_csr.sh",
		"touch "+started+"\nwhile [ ! -e "+gate+" ]; do sleep 0.05; done\nexec "+csrScript+"\n")

	ap, err := app.New(ctx, start, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	device := l.Assets[0]
	if err := ap.Store.CreateAsset(ctx, device); err != nil {
		t.Fatal(err)
	}
	before := servedSerial(t, l)

	type result struct {
		rot store.Rotation
		err error
	}
	first := make(chan result, 1)
	rot, err := ap.Runner.Create(ctx, device.SystemName, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		r, err := ap.Runner.Run(ctx, rot.ID)
		first <- result{r, err}
	}()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case r := <-first:
			t.Fatalf("the rotation ended before its CSR step: %+v %v", r.rot.State, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotation never reached its CSR step")
		}
	}

	// The reload renames the route and makes its install fail.
	next := labConfig(t, l, dir)
	r := scriptRoute(t, next)
	r.Name = "script-reloaded"
	r.Options["install_certificate"] = writeScript(t, dir, "failing_install.sh", "echo 'install refused by the reloaded route' >&2\nexit 1\n")
	res, err := ap.Reload(next)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !strings.Contains(res.String(), "routes") {
		t.Errorf("reload says %q, want it to name the routes", res)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	got := <-first
	if got.err != nil || got.rot.State != store.StateSucceeded {
		t.Fatalf("the rotation running during the reload: %s, %v", got.rot.State, got.err)
	}
	if route := journaledRoute(t, got.rot); route != startRoute {
		t.Errorf("it ran on route %q, want %q, the one it started on", route, startRoute)
	}
	after := servedSerial(t, l)
	if after == before {
		t.Errorf("the device still serves serial %s", before)
	}

	// The next rotation takes the reloaded route, and its install.
	rot, err = ap.Runner.Create(ctx, device.SystemName, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ap.Runner.Run(ctx, rot.ID)
	if second.State == store.StateSucceeded || !strings.Contains(second.Error, "install refused by the reloaded route") {
		t.Errorf("the rotation after the reload: %s %q (%v), want the reloaded route's install to fail it", second.State, second.Error, err)
	}
	if route := journaledRoute(t, second); route != "script-reloaded" {
		t.Errorf("the rotation after the reload ran on route %q", route)
	}
	if served := servedSerial(t, l); served != after {
		t.Errorf("the device serves %s after the failed install, want %s still", served, after)
	}
}

// labConfig is the lab's configuration with a database of the test's own.
func labConfig(t *testing.T, l *lab.Lab, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(dir, "ottr.db")
	return cfg
}

func scriptRoute(t *testing.T, cfg *config.Config) *route.Route {
	t.Helper()
	for i := range cfg.Routes {
		if cfg.Routes[i].Driver == "script" {
			return &cfg.Routes[i]
		}
	}
	t.Fatal("the lab's configuration has no script route")
	return nil
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// journaledRoute is the name of the route a rotation's preflight chose.
func journaledRoute(t *testing.T, rot store.Rotation) string {
	t.Helper()
	for _, e := range rot.Journal {
		if rotation.Step(e.Step) == rotation.StepPreflight {
			var out struct {
				RouteName string `json:"route_name"`
			}
			if err := json.Unmarshal(e.Output, &out); err != nil {
				t.Fatal(err)
			}
			return out.RouteName
		}
	}
	t.Fatalf("rotation %d has no preflight in its journal", rot.ID)
	return ""
}

func servedSerial(t *testing.T, l *lab.Lab) string {
	t.Helper()
	chain, err := l.Devices[0].ServedChain(context.Background())
	if err != nil || len(chain) == 0 {
		t.Fatalf("the device serves no chain: %v", err)
	}
	return verify.SerialHex(chain[0])
}
