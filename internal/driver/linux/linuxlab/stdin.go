package linuxlab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Scripts read their input line by line with "while IFS= read -r line",
// and a shell's read takes one byte per read system call so that each
// call leaves the rest of the input to whatever reads next. The
// interpreter does the same, and on this machine a system call costs
// about 2 µs: uploading a certificate chain cost a host thousands of
// them, a fifth of the lab's CPU. The in-process shell therefore reads
// its standard input, and files redirected into a command, ahead in
// blocks and answers "read -r NAME" from that block itself. Before
// anything else may read the same input (a program, another form of
// read), the block is given back: a file is sought back to the first
// byte not yet read, and the session's input is copied into the pipe the
// interpreter holds from that byte on. Every reader thus sees the input
// where a shell reading a byte at a time would have left it.

// readAhead is how much of an input is read at once.
const readAhead = 4096

// input is one input the emulator reads ahead of the interpreter: the
// session's standard input, or a file opened for a redirection.
type input struct {
	mu sync.Mutex
	// file is what the interpreter holds as its standard input.
	file *os.File
	// src is where the bytes come from: the session's channel, or file
	// itself.
	src io.Reader
	// pipe is the write end of file's pipe for the session's input; nil
	// for a file.
	pipe *os.File
	// buf[off:] is read from src and not yet taken.
	buf []byte
	off int
	// err is what src returned once it had nothing more.
	err error
	// handedOver is set once the session's input flows through the pipe:
	// from then on the interpreter reads it itself.
	handedOver bool
}

// inputs are a script run's inputs read ahead, by the file the
// interpreter holds.
type inputs struct {
	mu    sync.Mutex
	files map[*os.File]*input
}

// session makes the interpreter's standard input for the session's
// channel: a pipe nothing is written to until something other than
// "read -r" reads it. The caller closes it once the script has ended.
func (in *inputs) session(src io.Reader) (*input, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	i := &input{file: pr, src: src, pipe: pw}
	in.add(i)
	return i, nil
}

// close releases the session's input once the script has ended.
func (i *input) close() {
	i.file.Close()
	i.mu.Lock()
	defer i.mu.Unlock()
	// A copy under way closes the write end itself once the input ends
	// or finds the pipe closed; an input never handed over has no writer.
	if !i.handedOver {
		i.pipe.Close()
	}
}

// file registers a file opened for reading by a redirection.
func (in *inputs) file(f *os.File) {
	in.add(&input{file: f, src: f})
}

func (in *inputs) add(i *input) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.files == nil {
		in.files = map[*os.File]*input{}
	}
	in.files[i.file] = i
}

// lookup returns the input the interpreter reads as stdin, if it is one
// read ahead.
func (in *inputs) lookup(stdin io.Reader) *input {
	f, ok := stdin.(*os.File)
	if !ok || f == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.files[f]
}

// giveBack makes stdin readable by others from the first byte "read -r"
// has not taken.
func (in *inputs) giveBack(stdin io.Reader) {
	if i := in.lookup(stdin); i != nil {
		i.giveBack()
	}
}

func (i *input) giveBack() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.pipe == nil {
		if unread := len(i.buf) - i.off; unread > 0 {
			// Ignored like a shell ignores it: a file that cannot seek
			// (a FIFO) was never read ahead (see readLine).
			_, _ = i.file.Seek(int64(-unread), io.SeekCurrent)
		}
		i.buf, i.off, i.err = i.buf[:0], 0, nil
		return
	}
	if i.handedOver {
		return
	}
	i.handedOver = true
	rest := i.buf[i.off:]
	go func() {
		// Like the interpreter's own copy of a reader into a pipe: it
		// ends when the input does or the script has closed the pipe.
		if _, err := i.pipe.Write(rest); err == nil {
			_, _ = io.Copy(i.pipe, i.src)
		}
		i.pipe.Close()
	}()
}

// errNotAhead says the input cannot be read ahead; the interpreter's
// read takes it.
var errNotAhead = errors.New("input not read ahead")

// readLine takes the next line of the input without its newline, like
// the interpreter's "read -r": at the end of the input it returns what is
// left with the error that ended it.
func (i *input) readLine() (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.handedOver {
		return "", errNotAhead
	}
	if i.pipe == nil && i.off == len(i.buf) && i.err == nil {
		// Only regular files can be sought back to where read stopped.
		if fi, err := i.file.Stat(); err != nil || !fi.Mode().IsRegular() {
			return "", errNotAhead
		}
	}
	for {
		if n := bytes.IndexByte(i.buf[i.off:], '\n'); n >= 0 {
			line := string(i.buf[i.off : i.off+n])
			i.off += n + 1
			return line, nil
		}
		if i.err != nil {
			line := string(i.buf[i.off:])
			i.off = len(i.buf)
			return line, i.err
		}
		if i.off > 0 {
			i.buf = append(i.buf[:0], i.buf[i.off:]...)
			i.off = 0
		}
		if cap(i.buf)-len(i.buf) < readAhead {
			i.buf = append(make([]byte, 0, 2*cap(i.buf)+readAhead), i.buf...)
		}
		n, err := i.src.Read(i.buf[len(i.buf):cap(i.buf)])
		i.buf = i.buf[:len(i.buf)+n]
		if err != nil {
			i.err = err
		}
	}
}

// readCall answers a call of "read -r NAME" on an input read ahead: it
// takes the line and returns the call that gives NAME the value the
// interpreter's read would, with the same exit status. ok is false for
// any other call, which the interpreter runs itself.
func (in *inputs) readCall(ctx context.Context, args []string) (call []string, ok bool) {
	if len(args) != 3 || args[0] != "read" || args[1] != "-r" || !syntax.ValidName(args[2]) {
		return nil, false
	}
	hc := interp.HandlerCtx(ctx)
	i := in.lookup(hc.Stdin)
	if i == nil {
		return nil, false
	}
	line, err := i.readLine()
	if errors.Is(err, errNotAhead) {
		i.giveBack()
		return nil, false
	}
	if strings.IndexByte(line, 0) >= 0 {
		// eval cannot be given a NUL byte: the interpreter's read takes
		// this line itself.
		i.unread(line, err)
		i.giveBack()
		return nil, false
	}
	// The value is split as the interpreter's read splits it, with the
	// IFS the call sees (IFS= keeps the line whole).
	value := ""
	if fields := expand.ReadFields(&expand.Config{Env: hc.Env}, line, 1, true); len(fields) > 0 {
		value = fields[0]
	}
	script := args[2] + "=" + singleQuote(value)
	if err != nil {
		// read fails at the end of the input, having set NAME to the
		// unfinished last line.
		script += "; false"
	}
	return []string{"eval", script}, true
}

// unread puts back a line readLine returned, as if it had not been taken.
func (i *input) unread(line string, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	back := line
	if err == nil {
		back += "\n"
	}
	i.off -= len(back)
}

// singleQuote quotes s as one shell word. A quote inside ends the quoted
// part and is written in double quotes: the interpreter keeps the
// backslash of a backslashed quote in an assignment's value.
func singleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
