package junos

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadChunked(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		want    []string
		wantErr string
	}{
		{name: "one chunk is one message", stream: "\n#5\nhello\n##\n", want: []string{"hello"}},
		{name: "chunks of one message are joined", stream: "\n#4\n<rpc\n#8\n-reply/>\n##\n", want: []string{"<rpc-reply/>"}},
		{name: "messages follow one another", stream: "\n#1\na\n##\n\n#1\nb\n##\n", want: []string{"a", "b"}},
		{name: "a chunk may hold newlines and the old end marker", stream: "\n#8\n]]>]]>\n\n\n##\n", want: []string{"]]>]]>\n\n"}},
		{name: "a zero-size chunk is refused", stream: "\n#0\n\n##\n", wantErr: "bad chunk header"},
		{name: "a header without # is refused", stream: "\n5\nhello\n##\n", wantErr: "bad chunk header"},
		{name: "a message not starting with LF is refused", stream: "#5\nhello\n##\n", wantErr: "expected LF"},
		{name: "a chunk longer than announced is refused", stream: "\n#2\nhello\n##\n", wantErr: "expected LF after a chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.stream))
			for _, want := range tt.want {
				got, err := readChunked(r)
				if err != nil {
					t.Fatalf("readChunked: %v", err)
				}
				if string(got) != want {
					t.Errorf("readChunked = %q, want %q", got, want)
				}
			}
			if tt.wantErr != "" {
				_, err := readChunked(r)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("readChunked = %v, want an error containing %q", err, tt.wantErr)
				}
			}
		})
	}
}

func TestReadEndOfMessage(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("<a>x > y</a>]]>]]><b/>]]>]]>"))
	for _, want := range []string{"<a>x > y</a>", "<b/>"} {
		got, err := readEndOfMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("readEndOfMessage = %q, want %q", got, want)
		}
	}
}

func TestDeviceErrorCarriesTheDevicesWords(t *testing.T) {
	reply, err := parseNode([]byte(`<rpc-reply message-id="3"><commit-results>
		<rpc-error><error-severity>warning</error-severity><error-message>statement not found</error-message></rpc-error>
		<rpc-error><error-severity>error</error-severity><error-path>[edit system services web-management https]</error-path>
		<error-message>
		commit failed: (statements constraint check failed)
		</error-message></rpc-error></commit-results></rpc-reply>`))
	if err != nil {
		t.Fatal(err)
	}
	var failed []rpcError
	for _, e := range reply.descendants("rpc-error") {
		if e.childText("error-severity") == "error" {
			failed = append(failed, rpcError{Path: e.childText("error-path"), Message: e.childText("error-message")})
		}
	}
	got := (&deviceError{Operation: "commit-configuration", Errors: failed}).Error()
	want := "<commit-configuration>: device says: commit failed: (statements constraint check failed) (at [edit system services web-management https])"
	if got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
}

func TestOperationName(t *testing.T) {
	for op, want := range map[string]string{
		"<lock><target><candidate/></target></lock>": "lock",
		"<discard-changes/>":                         "discard-changes",
		`<get-configuration database="committed">`:   "get-configuration",
	} {
		if got := operationName(op); got != want {
			t.Errorf("operationName(%q) = %q, want %q", op, got, want)
		}
	}
}
