package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
)

// requestInfo is what the HTTP layer learns about a request before huma
// sees it.
type requestInfo struct {
	remoteAddr string
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri
}

// middleware wraps the mux with what every request gets: a recovered
// panic is a logged 500, never a dropped connection; the body is read up
// front within the size limit, so a too-large or broken body is a 4xx here
// instead of a 5xx inside huma; a path or method no operation serves gets a
// problem document like every other 4xx.
func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("api: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				if sw.status == 0 {
					writeProblem(sw, http.StatusInternalServerError, "internal error; the server log has the details")
				}
			}
			// Checked first: the arguments cost allocations even when the
			// line is dropped, on every request.
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.Debug("api: request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
					"remote", clientAddr(r), "duration", s.now().Sub(start))
			}
		}()
		h := sw.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")

		if err := s.bufferBody(r); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeProblem(sw, http.StatusRequestEntityTooLarge,
					fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes))
				return
			}
			writeProblem(sw, http.StatusBadRequest, "could not read the request body: "+err.Error())
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, requestInfo{remoteAddr: clientAddr(r)}))

		if _, pattern := mux.Handler(r); pattern == "" {
			s.unmatched(sw, r, mux)
			return
		}
		mux.ServeHTTP(sw, r)
	})
}

// bufferBody replaces r.Body with its content read in full, or fails when
// it exceeds the limit or cannot be read.
func (s *Server) bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.cfg.MaxBodyBytes))
	r.Body.Close()
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return nil
}

// unmatched answers a request no operation takes with the status the mux
// chose (404, 405 with Allow, or a redirect to the clean path), as a
// problem when it is an error.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	rec := &discardWriter{header: http.Header{}}
	mux.ServeHTTP(rec, r)
	if rec.status < 400 {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		return
	}
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	detail := "no endpoint at " + r.URL.Path + "; /docs lists them"
	if rec.status == http.StatusMethodNotAllowed {
		detail = r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow")
	}
	writeProblem(w, rec.status, detail)
}

// clientAddr is the peer's IP address, without the port. Forwarding
// headers are not trusted: a client could set them to dodge the login
// limits.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (huma sets
// read deadlines through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter records the status and headers of a response and drops
// its body.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
