// Package output keeps what a test's servers, child processes and loggers
// write, for the test to read while they still write.
package output

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer that many goroutines may write to while
// another reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// LineWith returns the first complete line (one its writer has ended)
// that contains want.
func (b *Buffer) LineWith(want string) (string, bool) {
	s := b.String()
	i := strings.Index(s, want)
	if i < 0 {
		return "", false
	}
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return "", false
	}
	return s[start : i+end], true
}
