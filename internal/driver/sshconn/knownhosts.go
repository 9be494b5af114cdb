package sshconn

// A fleet's known_hosts file has a line per device: 100,000 lines parsed
// whole by knownhosts.New hold about 24 MiB of keys and patterns for as long
// as the file is unchanged, although a dial needs only its own host's lines.
// The index here keeps, per line, where it is in the file and a 32-bit hash
// of each host it names (about 30 bytes a line); a dial reads back only the
// lines that can match its address and checks them with the rules of
// golang.org/x/crypto/ssh/knownhosts, whose error types it returns, so the
// verdicts, the keys a KeyError lists and their line numbers are the
// library's.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const (
	markerCert    = "@cert-authority"
	markerRevoked = "@revoked"
)

// lineRef is where one known_hosts line is: its byte offset, its length and
// its line number (1-based, as the library counts).
type lineRef struct {
	off  int64
	size int32
	num  int32
}

// hostRef names one plain host pattern of line ref: the hash of its host
// and port.
type hostRef struct {
	hash uint32
	ref  uint32
}

// hashedRef is a line whose host is hashed (|1|salt|hash): it can only be
// found by hashing the address with its salt, so its salt is kept with the
// first bytes of its hash.
type hashedRef struct {
	salt   []byte
	prefix uint32
	ref    uint32
}

// knownHostsIndex locates the lines of one known_hosts file.
type knownHostsIndex struct {
	file  string
	lines []lineRef
	// plain is sorted by hash.
	plain []hostRef
	// hashed lines are tried against every address; wild (patterns with
	// * or ?) and revoked lines are read for every address.
	hashed []hashedRef
	wild   []uint32
	// revoked lines apply to every host: a revoked key is refused
	// wherever it is presented.
	revoked []uint32
}

// hostHash is the index key of a host and port.
func hostHash(host, port string) uint32 {
	h := fnv.New32a()
	_, _ = io.WriteString(h, host)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, port)
	return h.Sum32()
}

// indexKnownHosts reads file and validates every line as knownhosts.New
// does (the same errors, so a malformed file is refused whole as before),
// keeping only the index.
func indexKnownHosts(file string) (*knownHostsIndex, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := &knownHostsIndex{file: file}
	r := bufio.NewReaderSize(f, 64<<10)
	var off int64
	num := 0
	var raw []byte
	for {
		raw = raw[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = r.ReadSlice('\n')
			raw = append(raw, chunk...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if len(raw) == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
		num++
		start := off
		off += int64(len(raw))
		// bufio.Scanner, which the library reads with, drops the
		// newline and a carriage return before it.
		text := bytes.TrimSuffix(raw, []byte("\n"))
		text = bytes.TrimSuffix(text, []byte("\r"))
		line := trimSpace(text)
		if len(line) > 0 && line[0] != '#' {
			if err := idx.add(line, lineRef{off: start, size: int32(len(text)), num: int32(num)}); err != nil {
				return nil, fmt.Errorf("knownhosts: %s:%d: %v", file, num, err)
			}
		}
		if err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
	}
	slices.SortFunc(idx.plain, func(a, b hostRef) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.ref) - int(b.ref)
	})
	idx.plain = slices.Clip(idx.plain)
	idx.lines = slices.Clip(idx.lines)
	return idx, nil
}

// add validates one line and records where an address can find it.
func (idx *knownHostsIndex) add(line []byte, ref lineRef) error {
	var db hostKeyDB
	marker, pattern, err := db.parse(line, "", 0)
	if err != nil {
		return err
	}
	i := uint32(len(idx.lines))
	idx.lines = append(idx.lines, ref)
	if marker == markerRevoked {
		idx.revoked = append(idx.revoked, i)
		return nil
	}
	if pattern[0] == '|' {
		_, salt, hash, _ := decodeHash(pattern)
		var prefix [4]byte
		copy(prefix[:], hash)
		idx.hashed = append(idx.hashed, hashedRef{salt: salt, prefix: binary.BigEndian.Uint32(prefix[:]), ref: i})
		return nil
	}
	patterns := db.lines[0].patterns
	for _, p := range patterns {
		if !p.negate && strings.ContainsAny(p.addr.host, "*?") {
			idx.wild = append(idx.wild, i)
			return nil
		}
	}
	// A line matches only an address one of its positive patterns names
	// exactly; negated ones can only exclude.
	for _, p := range patterns {
		if !p.negate {
			idx.plain = append(idx.plain, hostRef{hash: hostHash(p.addr.host, p.addr.port), ref: i})
		}
	}
	return nil
}

// callback reads the lines that can apply to the addresses and returns the
// check knownhosts.New would return for the whole file.
func (idx *knownHostsIndex) callback(addresses ...string) (ssh.HostKeyCallback, error) {
	var refs []uint32
	refs = append(refs, idx.revoked...)
	refs = append(refs, idx.wild...)
	for _, address := range addresses {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			continue
		}
		h := hostHash(host, port)
		i, _ := slices.BinarySearchFunc(idx.plain, h, func(e hostRef, h uint32) int {
			switch {
			case e.hash < h:
				return -1
			case e.hash > h:
				return 1
			}
			return 0
		})
		for ; i < len(idx.plain) && idx.plain[i].hash == h; i++ {
			refs = append(refs, idx.plain[i].ref)
		}
		if len(idx.hashed) > 0 {
			name := knownhosts.Normalize(addr{host, port}.String())
			for _, e := range idx.hashed {
				sum := hashHost(name, e.salt)
				if len(sum) >= 4 && binary.BigEndian.Uint32(sum) == e.prefix {
					refs = append(refs, e.ref)
				}
			}
		}
	}
	// The library checks lines in file order and stops at the first
	// matching key; a later @revoked line of the same key wins.
	slices.Sort(refs)
	refs = slices.Compact(refs)

	f, err := os.Open(idx.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	db := &hostKeyDB{revoked: map[string]*knownhosts.KnownKey{}}
	var buf []byte
	for _, r := range refs {
		l := idx.lines[r]
		buf = slices.Grow(buf[:0], int(l.size))[:l.size]
		if _, err := f.ReadAt(buf, l.off); err != nil {
			return nil, fmt.Errorf("knownhosts: %s:%d: %w", idx.file, l.num, err)
		}
		if _, _, err := db.parse(trimSpace(buf), idx.file, int(l.num)); err != nil {
			// The file changed under the index since it was read.
			return nil, fmt.Errorf("knownhosts: %s:%d: %v", idx.file, l.num, err)
		}
	}
	var checker ssh.CertChecker
	checker.IsHostAuthority = db.isHostAuthority
	checker.IsRevoked = db.isRevoked
	checker.HostKeyFallback = db.check
	return checker.CheckHostKey, nil
}

// The rest follows golang.org/x/crypto/ssh/knownhosts (BSD licence), whose
// matching is unexported: the same parsing, patterns and checks, over the
// lines one address needs.

type addr struct{ host, port string }

func (a addr) String() string {
	h := a.host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + a.port
}

type hostPattern struct {
	negate bool
	addr   addr
}

type dbLine struct {
	cert     bool
	patterns []hostPattern // nil when hashed
	hashed   *hashedHost
	known    knownhosts.KnownKey
}

func (l *dbLine) match(a addr) bool {
	if l.hashed != nil {
		return bytes.Equal(hashHost(knownhosts.Normalize(a.String()), l.hashed.salt), l.hashed.hash)
	}
	matched := false
	for _, p := range l.patterns {
		if !wildcardMatch([]byte(p.addr.host), []byte(a.host)) || p.addr.port != a.port {
			continue
		}
		if p.negate {
			return false
		}
		matched = true
	}
	return matched
}

type hashedHost struct{ salt, hash []byte }

type hostKeyDB struct {
	revoked map[string]*knownhosts.KnownKey
	lines   []dbLine
}

func trimSpace(in []byte) []byte { return bytes.Trim(in, " \t") }

func nextWord(line []byte) (string, []byte) {
	i := bytes.IndexAny(line, "\t ")
	if i == -1 {
		return string(line), nil
	}
	return string(line[:i]), trimSpace(line[i:])
}

func parseLine(line []byte) (marker, host string, key ssh.PublicKey, err error) {
	if w, next := nextWord(line); w == markerCert || w == markerRevoked {
		marker = w
		line = next
	}
	host, line = nextWord(line)
	if len(host) > 0 && host[0] == '@' {
		return "", "", nil, fmt.Errorf("knownhosts: unexpected marker: %q", host)
	}
	if len(line) == 0 {
		return "", "", nil, errors.New("knownhosts: missing host pattern")
	}
	wantType, line := nextWord(line)
	if len(line) == 0 {
		return "", "", nil, errors.New("knownhosts: missing key type pattern")
	}
	keyBlob, _ := nextWord(line)
	keyBytes, err := base64.StdEncoding.DecodeString(keyBlob)
	if err != nil {
		return "", "", nil, err
	}
	key, err = ssh.ParsePublicKey(keyBytes)
	if err != nil {
		return "", "", nil, err
	}
	if key.Type() != wantType {
		return "", "", nil, fmt.Errorf("knownhosts: key type mismatch: found %q, want %q", key.Type(), wantType)
	}
	return marker, host, key, nil
}

// parse adds one line to db and returns its marker and host pattern.
func (db *hostKeyDB) parse(line []byte, filename string, num int) (string, string, error) {
	marker, pattern, key, err := parseLine(line)
	if err != nil {
		return "", "", err
	}
	known := knownhosts.KnownKey{Key: key, Filename: filename, Line: num}
	if marker == markerRevoked {
		if db.revoked != nil {
			db.revoked[plainKeyBlob(key)] = &known
		}
		return marker, pattern, nil
	}
	l := dbLine{cert: marker == markerCert, known: known}
	if pattern[0] == '|' {
		typ, salt, hash, err := decodeHash(pattern)
		if err != nil {
			return "", "", err
		}
		if typ != "1" {
			return "", "", fmt.Errorf("knownhosts: got hash type %s, must be '1'", typ)
		}
		l.hashed = &hashedHost{salt: salt, hash: hash}
	} else if l.patterns, err = hostPatterns(pattern); err != nil {
		return "", "", err
	}
	db.lines = append(db.lines, l)
	return marker, pattern, nil
}

func hostPatterns(pattern string) ([]hostPattern, error) {
	var hps []hostPattern
	for _, p := range strings.Split(pattern, ",") {
		if len(p) == 0 {
			continue
		}
		var a addr
		var negate bool
		if p[0] == '!' {
			negate = true
			p = p[1:]
		}
		if len(p) == 0 {
			return nil, errors.New("knownhosts: negation without following hostname")
		}
		var err error
		if p[0] == '[' {
			a.host, a.port, err = net.SplitHostPort(p)
			if err != nil {
				return nil, err
			}
		} else {
			a.host, a.port, err = net.SplitHostPort(p)
			if err != nil {
				a.host = p
				a.port = "22"
			}
		}
		hps = append(hps, hostPattern{negate: negate, addr: a})
	}
	return hps, nil
}

func decodeHash(encoded string) (hashType string, salt, hash []byte, err error) {
	if len(encoded) == 0 || encoded[0] != '|' {
		err = errors.New("knownhosts: hashed host must start with '|'")
		return
	}
	components := strings.Split(encoded, "|")
	if len(components) != 4 {
		err = fmt.Errorf("knownhosts: got %d components, want 3", len(components))
		return
	}
	hashType = components[1]
	if salt, err = base64.StdEncoding.DecodeString(components[2]); err != nil {
		return
	}
	if hash, err = base64.StdEncoding.DecodeString(components[3]); err != nil {
		return
	}
	return
}

func hashHost(hostname string, salt []byte) []byte {
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(hostname))
	return mac.Sum(nil)
}

func wildcardMatch(pat []byte, str []byte) bool {
	for {
		if len(pat) == 0 {
			return len(str) == 0
		}
		if len(str) == 0 {
			return false
		}
		if pat[0] == '*' {
			if len(pat) == 1 {
				return true
			}
			for j := range str {
				if wildcardMatch(pat[1:], str[j:]) {
					return true
				}
			}
			return false
		}
		if pat[0] == '?' || pat[0] == str[0] {
			pat = pat[1:]
			str = str[1:]
		} else {
			return false
		}
	}
}

func keyEq(a, b ssh.PublicKey) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

func plainKeyBlob(key ssh.PublicKey) string {
	if cert, ok := key.(*ssh.Certificate); ok {
		return string(cert.Key.Marshal())
	}
	return string(key.Marshal())
}

func (db *hostKeyDB) isHostAuthority(remote ssh.PublicKey, address string) bool {
	h, p, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	a := addr{host: h, port: p}
	for _, l := range db.lines {
		if l.cert && keyEq(l.known.Key, remote) && l.match(a) {
			return true
		}
	}
	return false
}

func (db *hostKeyDB) isRevoked(key *ssh.Certificate) bool {
	if _, ok := db.revoked[plainKeyBlob(key)]; ok {
		return true
	}
	_, ok := db.revoked[plainKeyBlob(key.SignatureKey)]
	return ok
}

func (db *hostKeyDB) check(address string, remote net.Addr, remoteKey ssh.PublicKey) error {
	if revoked := db.revoked[plainKeyBlob(remoteKey)]; revoked != nil {
		return &knownhosts.RevokedError{Revoked: *revoked}
	}
	host, port, err := net.SplitHostPort(remote.String())
	if err != nil {
		return fmt.Errorf("knownhosts: SplitHostPort(%s): %v", remote, err)
	}
	a := addr{host, port}
	if address != "" {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("knownhosts: SplitHostPort(%s): %v", address, err)
		}
		a = addr{host, port}
	}
	keyErr := &knownhosts.KeyError{}
	for _, l := range db.lines {
		if !l.match(a) {
			continue
		}
		keyErr.Want = append(keyErr.Want, l.known)
		if keyEq(l.known.Key, remoteKey) {
			return nil
		}
	}
	return keyErr
}
