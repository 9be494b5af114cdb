package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of ResolverOptions.
const (
	// DefaultCacheTTL is how long a value read from a secret store is
	// used before it is read again: short enough that a rotated password
	// is picked up within minutes, long enough that a batch of rotations
	// reads each secret once.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultTimeout bounds one read from a secret store.
	DefaultTimeout = 10 * time.Second
)

// Document is what a secret store holds under one name.
type Document struct {
	// Text is the secret as one string (a Secrets Manager SecretString).
	Text string
	// Fields are the secret's fields, for a store that keeps fields (a
	// Vault KV secret); nil for a store that keeps one string.
	Fields map[string]any
}

// Source reads secrets from one store. Fetch is called with a reference
// of the source's scheme and returns the whole document the reference
// names (its Name and Stage); the Resolver picks the key out. Its errors
// must say what failed and how to fix it, and never hold a secret.
type Source interface {
	Fetch(ctx context.Context, ref Ref) (Document, error)
}

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	// Env looks environment variables up; os.LookupEnv when nil.
	Env func(string) (string, bool)
	// ReadFile reads files; os.ReadFile when nil.
	ReadFile func(string) ([]byte, error)
	// Sources are the secret stores by scheme (SchemeAWS, SchemeVault).
	Sources map[string]Source
	// CacheTTL is how long a store's document is used before it is read
	// again; DefaultCacheTTL when 0. env: and file: are read every time.
	CacheTTL time.Duration
	// Timeout bounds one read from a store; DefaultTimeout when 0.
	Timeout time.Duration
	// Now is the clock of the cache; time.Now when nil.
	Now func() time.Time
	// Logger receives a debug line per read from a store, naming the
	// reference and never the value.
	Logger *slog.Logger
}

// Resolver returns the secrets references stand for. It is safe for
// concurrent use: reads of different documents run side by side, and
// callers wanting a document being read wait for that read rather than
// starting another. No lock is held across a read.
type Resolver struct {
	opts ResolverOptions

	mu      sync.Mutex
	entries map[string]*entry
}

// entry is one document in the cache, or being read (done still open).
type entry struct {
	done    chan struct{}
	doc     Document
	err     error
	fetched time.Time
}

// NewResolver returns a Resolver. A zero ResolverOptions resolves env:,
// file: and literal values as ottr always has, and refuses store references.
func NewResolver(o ResolverOptions) *Resolver {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{opts: o, entries: map[string]*entry{}}
}

// Resolve is ResolveContext without a deadline of the caller's: each read
// from a store still has the Resolver's timeout.
func (r *Resolver) Resolve(ref string) (string, error) {
	return r.ResolveContext(context.Background(), ref)
}

// ResolveContext returns the secret a reference from ottr.yaml stands for:
//
//	env:NAME            the value of environment variable NAME (an error if unset or empty)
//	file:PATH           the contents of the file, less one trailing newline
//	aws-sm:NAME         a Secrets Manager secret's SecretString
//	aws-sm:NAME#key     the string under key of a SecretString holding a JSON object
//	aws-sm:…@STAGE      the version with that staging label (AWSCURRENT when left out)
//	vault:MOUNT/PATH#k  field k of a KV secret in Vault or OpenBao
//	otherwise           the reference itself, taken literally
//
// Errors name the reference, never a value.
func (r *Resolver) ResolveContext(ctx context.Context, text string) (string, error) {
	ref, err := ParseRef(text)
	if err != nil {
		return "", err
	}
	switch ref.Scheme {
	case "":
		return text, nil
	case SchemeEnv:
		return r.env(ref.Name)
	case SchemeFile:
		return r.file(ref.Name)
	}
	source, ok := r.opts.Sources[ref.Scheme]
	if !ok {
		return "", &RefError{Ref: ref.String(), Err: fmt.Errorf("%s references are not set up in this process: add a secrets.%s block to the configuration", ref.Scheme, configBlock(ref.Scheme))}
	}
	doc, err := r.document(ctx, source, ref)
	if err != nil {
		return "", &RefError{Ref: ref.String(), Err: err}
	}
	value, err := pick(doc, ref)
	if err != nil {
		return "", &RefError{Ref: ref.String(), Err: err}
	}
	return value, nil
}

func configBlock(scheme string) string {
	if scheme == SchemeAWS {
		return "aws"
	}
	return scheme
}

// RefError is a reference that could not be resolved.
type RefError struct {
	Ref string
	Err error
}

func (e *RefError) Error() string { return "secret " + e.Ref + ": " + e.Err.Error() }
func (e *RefError) Unwrap() error { return e.Err }

func (r *Resolver) env(name string) (string, error) {
	value, ok := r.opts.Env(name)
	if !ok {
		return "", fmt.Errorf("secret: environment variable %s is not set", name)
	}
	// An empty credential is almost always a variable exported by
	// mistake; failing here beats a confusing login failure later.
	if value == "" {
		return "", fmt.Errorf("secret: environment variable %s is empty", name)
	}
	return value, nil
}

func (r *Resolver) file(path string) (string, error) {
	data, err := r.opts.ReadFile(path)
	if err != nil {
		// os.ReadFile's errors name the path and the reason, never
		// the contents; name the path ourselves only if they do not.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return "", fmt.Errorf("secret: read secret file: %w", err)
		}
		return "", fmt.Errorf("secret: read secret file %s: %w", path, err)
	}
	value := string(data)
	if v, ok := strings.CutSuffix(value, "\n"); ok {
		value = strings.TrimSuffix(v, "\r")
	}
	return value, nil
}

// document returns the cached document of ref, reading it when it is
// missing or older than the TTL. Failed reads are not kept: the next use
// tries the store again.
func (r *Resolver) document(ctx context.Context, source Source, ref Ref) (Document, error) {
	key := ref.document()
	r.mu.Lock()
	e := r.entries[key]
	if e == nil || e.isStale(r.opts.Now(), r.opts.CacheTTL) {
		e = &entry{done: make(chan struct{})}
		r.entries[key] = e
		r.mu.Unlock()
		r.fetch(ctx, source, ref, key, e)
		return e.doc, e.err
	}
	r.mu.Unlock()
	// Another caller is reading it, or has: share its answer, failure
	// included, as the read was made for this very document.
	select {
	case <-e.done:
		return e.doc, e.err
	case <-ctx.Done():
		return Document{}, fmt.Errorf("gave up waiting for the secret store: %w", ctx.Err())
	}
}

// isStale reports whether a finished entry must be read again; an entry
// being read is never stale: callers wait for it.
func (e *entry) isStale(now time.Time, ttl time.Duration) bool {
	select {
	case <-e.done:
		return e.err != nil || now.Sub(e.fetched) >= ttl
	default:
		return false
	}
}

func (r *Resolver) fetch(ctx context.Context, source Source, ref Ref, key string, e *entry) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	started := r.opts.Now()
	doc, err := source.Fetch(ctx, ref)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("no answer within %v (secrets.timeout): %w", r.opts.Timeout, err)
	}
	r.opts.Logger.Debug("secret: read from store", "reference", ref.Scheme+":"+ref.Name, "stage", ref.Stage,
		"ok", err == nil, "duration", r.opts.Now().Sub(started))
	r.mu.Lock()
	e.doc, e.err, e.fetched = doc, err, r.opts.Now()
	if err != nil && r.entries[key] == e {
		delete(r.entries, key)
	}
	close(e.done)
	r.mu.Unlock()
}

// Forget drops every cached document, so the next use reads each again.
func (r *Resolver) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, e := range r.entries {
		select {
		case <-e.done:
			delete(r.entries, key)
		default:
		}
	}
}

// pick returns what ref names in doc: the whole text, or one key's string.
func pick(doc Document, ref Ref) (string, error) {
	if ref.Key == "" {
		if doc.Fields != nil {
			return "", fmt.Errorf("the secret holds fields (%s): name one with #key", strings.Join(fieldNames(doc.Fields), ", "))
		}
		if doc.Text == "" {
			return "", errors.New("the secret is empty")
		}
		return doc.Text, nil
	}
	fields := doc.Fields
	if fields == nil {
		if err := json.Unmarshal([]byte(doc.Text), &fields); err != nil || fields == nil {
			// The decoder's message may quote the text: say only what
			// was expected.
			return "", fmt.Errorf("the secret is not a JSON object, so it has no key %q: store it as {\"%s\": \"…\"}, or drop #%s to read it whole", ref.Key, ref.Key, ref.Key)
		}
	}
	raw, ok := fields[ref.Key]
	if !ok {
		return "", fmt.Errorf("the secret has no key %q (it has %s)", ref.Key, orNone(fieldNames(fields)))
	}
	value, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("the secret's key %q holds a %s, not a string", ref.Key, jsonKind(raw))
	}
	if value == "" {
		return "", fmt.Errorf("the secret's key %q is empty", ref.Key)
	}
	return value, nil
}

// fieldNames lists a secret's keys, which say what it holds but are not
// secret themselves.
func fieldNames(fields map[string]any) []string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, fmt.Sprintf("%q", name))
	}
	slices.Sort(names)
	return names
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "no keys"
	}
	return strings.Join(names, ", ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}
