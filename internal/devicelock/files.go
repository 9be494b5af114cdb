package devicelock

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Files is the Backend of processes on one machine, as those sharing a
// SQLite file are: a device's key is an exclusive flock on a file named
// after it in Dir (the database's path with ".devices"). The kernel drops
// a dead process's locks at once, however it died. The holder's
// description is written into the file, so a process that waits can say
// for whom, and the holder removes the file as it unlocks, so the
// directory holds only the devices being changed.
type Files struct {
	// Dir holds the lock files; it is created 0700.
	Dir string
}

// Acquire polls the key's flock (flock cannot wait and watch ctx at once)
// from every 10ms to every 250ms.
func (f Files) Acquire(ctx context.Context, key, holder string, busy func(string)) (func(), error) {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("devicelock: lock directory: %w", err)
	}
	name := filepath.Join(f.Dir, fileName(key))
	wait := 10 * time.Millisecond
	told := false
	for {
		file, err := lockFile(name)
		if err != nil {
			return nil, err
		}
		if file != nil {
			// Who holds it is only for messages: a failed write changes
			// nothing.
			_, _ = file.WriteString(fmt.Sprintf("%s (process %d)\n", holder, os.Getpid()))
			return func() {
				// Removed while still locked: whoever opened it meanwhile
				// finds, once it has the lock, that it is not the file at
				// name any more, and tries again.
				_ = os.Remove(name)
				file.Close()
			}, nil
		}
		if !told && busy != nil {
			told = true
			heldBy, _ := os.ReadFile(name)
			busy(strings.TrimSpace(string(heldBy)))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// lockFile opens and locks the file at name; nil when another process
// holds it. A file locked after its holder removed it is not the one at
// name any more: it is dropped and the one at name is tried at once.
func lockFile(name string) (*os.File, error) {
	for {
		file, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("devicelock: %w", err)
		}
		err = syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			file.Close()
			return nil, nil
		}
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("devicelock: lock %s: %w", name, err)
		}
		opened, errOpened := file.Stat()
		current, errCurrent := os.Stat(name)
		if errOpened == nil && errCurrent == nil && os.SameFile(opened, current) {
			return file, nil
		}
		file.Close()
		if errOpened != nil {
			return nil, fmt.Errorf("devicelock: lock %s: %w", name, errOpened)
		}
	}
}

// fileName is the lock file of key: its letters and digits, for whoever
// lists the directory, and a hash, so that two keys never share a file
// and any key makes one path element.
func fileName(key string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, key)
	if len(safe) > 64 {
		safe = safe[:64]
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return fmt.Sprintf("%s-%016x.lock", safe, h.Sum64())
}
