package bigiplab

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// File uploads and the util endpoints (bash, unix-rm).

// downloadsDir is where /mgmt/shared/file-transfer/uploads puts files.
const downloadsDir = "/var/config/rest/downloads/"

var (
	uploadNamePattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	contentRangePattern = regexp.MustCompile(`^(\d+)-(\d+)/(\d+)$`)
)

// upload receives one chunk of a file, as its Content-Range says.
func (d *Device) upload(r *http.Request, name string, body []byte) reply {
	if !uploadNamePattern.MatchString(name) {
		return d.sharedError(r, http.StatusBadRequest, fmt.Sprintf("Invalid file name %q.", name), nil)
	}
	m := contentRangePattern.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		return d.sharedError(r, http.StatusBadRequest, "Content-Range header is missing or invalid; expected start-end/total.", nil)
	}
	start, _ := strconv.Atoi(m[1])
	end, _ := strconv.Atoi(m[2])
	total, _ := strconv.Atoi(m[3])
	if end < start || end >= total || end-start+1 != len(body) {
		return d.sharedError(r, http.StatusBadRequest, fmt.Sprintf(
			"Content-Range %s does not match the %d bytes sent.", r.Header.Get("Content-Range"), len(body)), nil)
	}
	path := downloadsDir + name
	d.mu.Lock()
	defer d.mu.Unlock()
	data := d.downloads[path]
	if start == 0 {
		data = nil
	}
	if start != len(data) {
		return d.sharedError(r, http.StatusBadRequest, fmt.Sprintf(
			"Chunk starts at %d but %d bytes were received so far.", start, len(data)), nil)
	}
	data = append(data, body...)
	d.downloads[path] = data
	return ok(map[string]any{
		"remainingByteCount": total - len(data),
		"usedChunks":         map[string]int{strconv.Itoa(start): len(body)},
		"totalByteCount":     total,
		"localFilePath":      path,
		"temporaryFilePath":  downloadsDir + "tmp/" + name,
		"generation":         0,
		"lastUpdateMicros":   d.cfg.Now().UnixMicro(),
	})
}

// utilRequest is the body of the util endpoints.
type utilRequest struct {
	Command     string `json:"command"`
	UtilCmdArgs string `json:"utilCmdArgs"`
}

// bash runs the few commands ottr sends through /mgmt/tm/util/bash: `tmsh
// list sys crypto csr NAME`, `cat FILE` and `tmsh restart /sys service
// httpd`. Anything else fails as an unknown command would.
func (d *Device) bash(body []byte) reply {
	var req utilRequest
	if err := decode(body, &req); err != nil {
		return tmError(err)
	}
	if req.Command != "run" {
		return tmError(errorf(http.StatusBadRequest, "invalid command %q; only run is allowed", req.Command))
	}
	words, err := bashWords(req.UtilCmdArgs)
	if err != nil {
		return tmError(errorf(http.StatusBadRequest, "%v", err))
	}
	d.mu.Lock()
	result := d.run(words)
	d.mu.Unlock()
	res := map[string]any{"kind": "tm:util:bash:runstate", "command": "run", "utilCmdArgs": req.UtilCmdArgs}
	if result != "" {
		res["commandResult"] = result
	}
	return ok(res)
}

// run executes one command line. The caller holds d.mu.
func (d *Device) run(words []string) string {
	switch {
	case len(words) == 6 && strings.Join(words[:5], " ") == "tmsh list sys crypto csr":
		fullPath, err := resolveName(words[5], "")
		if err != nil {
			return err.Error() + "\n"
		}
		r, found := d.st.csrs[fullPath]
		if !found {
			return notFound("Certificate Signing Request", fullPath).msg + "\n"
		}
		return csrListing(r)
	case isHTTPDRestart(words):
		if err := d.restartHTTPD(); err != nil {
			return fmt.Sprintf("httpd: Syntax error: %v\n", err)
		}
		return ""
	case len(words) >= 2 && words[0] == "cat":
		var out strings.Builder
		for _, p := range words[1:] {
			data, found := d.st.files[p]
			if !found {
				fmt.Fprintf(&out, "cat: %s: No such file or directory\n", p)
				continue
			}
			out.Write(data)
		}
		return out.String()
	case len(words) == 0:
		return ""
	}
	return fmt.Sprintf("/bin/bash: line 1: %s: command not found\n", words[0])
}

// isHTTPDRestart reports whether words restart httpd, in tmsh's full
// (/sys) or short form.
func isHTTPDRestart(words []string) bool {
	if len(words) != 5 || words[0] != "tmsh" || words[1] != "restart" || words[3] != "service" || words[4] != "httpd" {
		return false
	}
	return words[2] == "/sys" || words[2] == "sys"
}

// bashWords reads utilCmdArgs of the form `-c '<command>'` (or with double
// quotes) and splits the command into words, honouring single and double
// quotes.
func bashWords(args string) ([]string, error) {
	rest, found := strings.CutPrefix(strings.TrimSpace(args), "-c ")
	if !found {
		return nil, fmt.Errorf("utilCmdArgs must be -c '<command>', got %q", args)
	}
	script, err := shellWords(strings.TrimSpace(rest))
	if err != nil || len(script) != 1 {
		return nil, fmt.Errorf("utilCmdArgs must be -c followed by one quoted command, got %q", args)
	}
	return shellWords(script[0])
}

// shellWords splits s as a POSIX shell would, for quotes only: no
// expansions, no escapes outside double quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated double quote in %q", s)
			}
			i = j
			inWord = true
		case c == ';' || c == '|' || c == '&' || c == '$' || c == '`' || c == '>' || c == '<':
			return nil, fmt.Errorf("the device accepts single commands only, got %q", s)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// unixRm removes an uploaded file.
func (d *Device) unixRm(body []byte) reply {
	var req utilRequest
	if err := decode(body, &req); err != nil {
		return tmError(err)
	}
	res := map[string]any{"kind": "tm:util:unix-rm:runstate", "command": "run", "utilCmdArgs": req.UtilCmdArgs}
	path := strings.TrimSpace(req.UtilCmdArgs)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !strings.HasPrefix(path, downloadsDir) || strings.Contains(path, ".."):
		res["commandResult"] = fmt.Sprintf("rm: cannot remove '%s': Permission denied\n", path)
	case d.downloads[path] == nil:
		res["commandResult"] = fmt.Sprintf("rm: cannot remove '%s': No such file or directory\n", path)
	default:
		delete(d.downloads, path)
	}
	return ok(res)
}
