package lighthouse

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// stubClient is a client of an httptest server answering with handler.
func stubClient(t *testing.T, handler http.HandlerFunc, logs *logRecorder) *client {
	t.Helper()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &client{
		base:     url.URL{Scheme: "https", Host: u.Host, Path: apiBase},
		http:     srv.Client(),
		username: adminUser,
		password: adminPassword,
		token:    "0123456789abcdef",
		log:      slog.New(logs),
	}
}

func TestAnAnswerThatIsNotLighthousesIsQuotedWithoutSecrets(t *testing.T) {
	c := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>proxy error for " + adminPassword + " and 0123456789abcdef</html>"))
	}, &logRecorder{})
	_, err := c.https(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "GET /services/https: HTTP 502: <html>proxy error for [redacted] and [redacted]</html>") {
		t.Errorf("error = %q", msg)
	}
}

func TestAPrivateKeyInAnAnswerIsNeitherKeptNorPassedOn(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"
	logs := &logRecorder{}
	c := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("zip") != "" {
			_, _ = w.Write([]byte(key))
			return
		}
		// The reference's example of the certificate details has a key.
		_, _ = w.Write([]byte(`{"https": {"common_name": "lh", "cert": "", "key": "` + strings.ReplaceAll(key, "\n", `\n`) + `"}}`))
	}, logs)

	details, err := c.https(context.Background())
	if err != nil || details.CommonName != "lh" {
		t.Fatalf("https() = %+v, %v", details, err)
	}
	if logs.count("lighthouse: the appliance's answer held a private key; the driver ignored it") != 1 {
		t.Error("the key in the answer was not noted")
	}
	_, err = c.downloadCSR(context.Background())
	if err == nil || !strings.Contains(err.Error(), "held a private key; the driver discarded it") || strings.Contains(err.Error(), "MIGH") {
		t.Errorf("downloadCSR error = %v", err)
	}
}
