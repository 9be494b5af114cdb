package e2e_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// Ten vhosts of one real nginx, each an asset, share one route whose paths
// are templates of the asset's common name and whose files are bundles of
// key and certificate. All ten rotate at once, each ending with a plain
// "nginx -s reload" that loads every vhost's files, so reloads run while
// other rotations write: every rotation succeeds, and each vhost serves its
// own new certificate.
func TestVhostsSharingATemplatedRouteRotateAtOnce(t *testing.T) {
	e := need(t)
	hosts := vhostHosts()
	first, _ := e.vhosts.Site(hosts[0])
	sites := filepath.Dir(filepath.Dir(first.CertPath))
	// "nginx -t -q ARGS && nginx -s reload ARGS": only the reload, which
	// does not wait for nginx to load the files.
	_, reload, ok := strings.Cut(e.vhosts.ReloadCommand(), " && ")
	if !ok || !strings.Contains(reload, "-s reload") {
		t.Fatalf("nginx's reload command %q has no plain reload", e.vhosts.ReloadCommand())
	}
	bundle := sites + "/{{.CommonName}}/cert.pem"
	ap := e.newRouteApp(t, e.sshd.KnownHostsFile, linuxRoute{certPath: bundle, keyPath: bundle, reloadCommand: reload})

	ctx := context.Background()
	before := map[string]string{}
	for _, host := range hosts {
		site, _ := e.vhosts.Site(host)
		e.addAsset(t, ap, host, site.Port)
		served, err := verify.Fetch(ctx, site.Addr, host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		before[host] = verify.SerialHex(served[0])
	}

	results := make([]store.Rotation, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, host := range hosts {
		wg.Go(func() { results[i], errs[i] = rotate(ap, host) })
	}
	wg.Wait()

	for i, host := range hosts {
		rot := results[i]
		if errs[i] != nil || rot.State != store.StateSucceeded {
			t.Errorf("rotation of %s %s: %v\n%s", host, rot.State, errs[i], logOf(rot))
			continue
		}
		site, _ := e.vhosts.Site(host)
		e.checkServesNew(t, ap, site, before[host])
	}
	if t.Failed() {
		t.Logf("nginx's log:\n%s", e.vhosts.Log())
	}
}
