package driver_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

func TestTheHTTPClientFollowsNoRedirect(t *testing.T) {
	for _, status := range []int{
		http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
	} {
		t.Run(fmt.Sprintf("HTTP %d", status), func(t *testing.T) {
			var reached atomic.Int32
			elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
			t.Cleanup(elsewhere.Close)
			device := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+"/login", status)
			}))
			t.Cleanup(device.Close)

			client := driver.NewHTTPClient(device.Client().Transport, time.Minute)
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, device.URL+"/api/", strings.NewReader("password=secret"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatalf("the client returned HTTP %d instead of an error", resp.StatusCode)
			}
			var redirect *driver.RedirectError
			if !errors.As(err, &redirect) {
				t.Fatalf("the error is not a *driver.RedirectError: %v", err)
			}
			want := driver.RedirectError{StatusCode: status, From: device.URL, To: elsewhere.URL + "/login"}
			if *redirect != want {
				t.Errorf("the error is %+v, want %+v", *redirect, want)
			}
			if n := reached.Load(); n != 0 {
				t.Errorf("the address the device pointed to got %d requests, want none", n)
			}
		})
	}
}

func TestARedirectErrorShowsWhereTheDevicePointedWithoutSecrets(t *testing.T) {
	const token = "f5tokenVQ2XJ4K7"
	for _, tc := range []struct {
		name     string
		location string
		want     string
	}{
		{"a query string and user info are left out", "https://admin:hunter22@proxy.example.test:8443/login?token=abc&password=hunter22", "https://proxy.example.test:8443/login"},
		{"a missing port is the scheme's", "http://fw1.example.test/api/", "http://fw1.example.test:80/api/"},
		{"a relative location is on the device", "/php/login.php?redirect=/api/", "{device}/php/login.php"},
		{"a token the request carried is masked from an echoed path", "https://other.example.test/mgmt/shared/authz/tokens/" + token, "https://other.example.test:443/mgmt/shared/authz/tokens/[redacted]"},
		{"an IPv6 address keeps its brackets", "https://[2001:db8::1]:8443/api/", "https://[2001:db8::1]:8443/api/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			device := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", tc.location)
				w.WriteHeader(http.StatusTemporaryRedirect)
			}))
			t.Cleanup(device.Close)
			client := driver.NewHTTPClient(device.Client().Transport, time.Minute)
			req, err := http.NewRequestWithContext(context.Background(), http.MethodDelete, device.URL+"/mgmt/shared/authz/tokens/"+token, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-F5-Auth-Token", token)
			resp, err := client.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("no error")
			}
			var redirect *driver.RedirectError
			if !errors.As(err, &redirect) {
				t.Fatalf("the error is not a *driver.RedirectError: %v", err)
			}
			if want := strings.ReplaceAll(tc.want, "{device}", device.URL); redirect.To != want {
				t.Errorf("To = %q, want %q", redirect.To, want)
			}
			msg := redirect.Error()
			for _, secret := range []string{"hunter22", "token=", token} {
				if strings.Contains(msg, secret) {
					t.Errorf("the error shows %q: %s", secret, msg)
				}
			}
			for _, part := range []string{device.URL, "HTTP 307 Temporary Redirect", "point the asset"} {
				if !strings.Contains(msg, part) {
					t.Errorf("the error lacks %q: %s", part, msg)
				}
			}
		})
	}
}

// TestEveryDriverSpeaksHTTPThroughTheSharedClient keeps a driver from
// building an HTTP client of its own, which would follow redirects.
func TestEveryDriverSpeaksHTTPThroughTheSharedClient(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("*", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	// Package-level functions and variables of net/http that use
	// http.DefaultClient.
	defaultClient := map[string]bool{"DefaultClient": true, "Get": true, "Head": true, "Post": true, "PostForm": true}
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || strings.HasPrefix(file, "drivertest"+string(filepath.Separator)) {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		httpName := ""
		for _, imp := range f.Imports {
			if imp.Path.Value == `"net/http"` {
				httpName = "http"
				if imp.Name != nil {
					httpName = imp.Name.Name
				}
			}
		}
		if httpName == "" {
			continue
		}
		checked++
		isClient := func(e ast.Expr) bool {
			sel, ok := e.(*ast.SelectorExpr)
			if !ok {
				return false
			}
			pkg, ok := sel.X.(*ast.Ident)
			return ok && pkg.Name == httpName && sel.Sel.Name == "Client"
		}
		report := func(n ast.Node, what string) {
			t.Errorf("%s: %s; a driver's HTTP client comes from driver.NewHTTPClient, which follows no redirect", fset.Position(n.Pos()), what)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if isClient(n.Type) {
					report(n, "builds an http.Client")
				}
			case *ast.ValueSpec:
				if isClient(n.Type) {
					report(n, "declares an http.Client value")
				}
			case *ast.CallExpr:
				if fn, ok := n.Fun.(*ast.Ident); ok && fn.Name == "new" && len(n.Args) == 1 && isClient(n.Args[0]) {
					report(n, "builds an http.Client")
				}
			case *ast.SelectorExpr:
				if pkg, ok := n.X.(*ast.Ident); ok && pkg.Name == httpName && defaultClient[n.Sel.Name] {
					report(n, "uses http."+n.Sel.Name+", which is http.DefaultClient")
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("found no driver source importing net/http; the test looks in the wrong place")
	}
}
