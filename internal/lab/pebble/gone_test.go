package pebble

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestARequestWhoseClientIsGoneBeforeItsTurnIsNotHandled(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				handled []string
				conns   []net.Conn
			)
			testCA.AfterAnswer(func(path string) {
				mu.Lock()
				handled = append(handled, path)
				mu.Unlock()
			})
			defer testCA.AfterAnswer(nil)
			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: testCA.TLSRoots()},
				ForceAttemptHTTP2: h2,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err == nil {
						mu.Lock()
						conns = append(conns, c)
						mu.Unlock()
					}
					return c, err
				},
			}
			if !h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			// The lab runs one request at a time: hold its turn.
			testCA.serial.Lock()
			done := make(chan error, 1)
			go func() {
				resp, err := client.Post(strings.TrimSuffix(testCA.DirectoryURL(), "/dir")+newOrderPath, "application/jose+json", strings.NewReader(`{"protected":"","payload":"","signature":""}`))
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			time.Sleep(500 * time.Millisecond)
			mu.Lock()
			for _, c := range conns {
				c.Close() // the client process dies
			}
			mu.Unlock()
			<-done
			time.Sleep(200 * time.Millisecond)
			testCA.serial.Unlock()
			time.Sleep(200 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			for _, p := range handled {
				if p == newOrderPath {
					t.Errorf("the lab handled a new order whose client had gone")
				}
			}
		})
	}
}
