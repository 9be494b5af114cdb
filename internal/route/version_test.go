package route

import (
	"strings"
	"testing"
)

func TestVersionPatterns(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		in      []string
		out     []string
	}{
		{"a glob matches a version family", "9.*", []string{"9.1.0", "9.0", "9.1.0-h3"}, []string{"8.1.0", "10.0.1", "19.1"}},
		{"a glob matches one character with ?", "9.1.?", []string{"9.1.0", "9.1.9"}, []string{"9.1.10", "9.2.0"}},
		{"a plain version matches exactly", "9.1.0", []string{"9.1.0"}, []string{"9.1.0-h3", "9.1"}},
		{"a range takes both bounds", ">=9 <10", []string{"9.0.0", "9.1.0-h3", "9"}, []string{"8.1.0", "10.0.0", "10.2.4-h2"}},
		{"an operator may be followed by a space", ">= 9.1 < 10", []string{"9.1.0", "9.9"}, []string{"9.0.9", "10.0"}},
		{"|| takes either side", "<9 || >=10.1", []string{"8.1.0", "10.1.0", "11"}, []string{"9.1.0", "10.0.9"}},
		{"=9 means any 9.x", "=9", []string{"9.0.0", "9.1.7"}, []string{"10.0.0", "8.9.9"}},
		{"=9.1 means any 9.1.x", "=9.1", []string{"9.1.0", "9.1.12-h3"}, []string{"9.2.0", "9.0.9"}},
		{"=9.1.0 means exactly 9.1.0 ignoring suffixes", "=9.1.0", []string{"9.1.0", "9.1.0-h3"}, []string{"9.1.1"}},
		{">9.1 is above every 9.1.x", ">9.1", []string{"9.2.0", "10"}, []string{"9.1.0", "9.1.99"}},
		{">9.1.0 is above 9.1.0 exactly", ">9.1.0", []string{"9.1.1"}, []string{"9.1.0", "9.1.0-h3"}},
		{"<=9.1 includes every 9.1.x", "<=9.1", []string{"9.1.99", "8"}, []string{"9.2.0"}},
		{"<=9.1.2 includes 9.1.2", "<=9.1.2", []string{"9.1.2"}, []string{"9.1.3"}},
		{"<9.1 is below 9.1.0", "<9.1", []string{"9.0.99"}, []string{"9.1.0"}},
		{"tilde allows patch updates", "~9.1.2", []string{"9.1.2", "9.1.9"}, []string{"9.1.1", "9.2.0"}},
		{"tilde on a major allows minor updates", "~9", []string{"9.0.0", "9.9.9"}, []string{"10.0.0"}},
		{"caret keeps the major", "^9.1.2", []string{"9.1.2", "9.9.0"}, []string{"9.1.1", "10.0.0"}},
		{"caret on 0.x keeps the minor", "^0.2.3", []string{"0.2.3", "0.2.9"}, []string{"0.3.0"}},
		{"caret on 0.0.x keeps the patch", "^0.0.3", []string{"0.0.3"}, []string{"0.0.4"}},
		{"JunOS versions compare by their numeric prefix", ">=18.2 <19", []string{"18.2R3-S1", "18.4R1"}, []string{"17.4R2", "19.1R1"}},
		{"a leading v is tolerated", ">=1.2", []string{"v1.2.0"}, []string{"v1.1"}},
		{"a version that is not numeric is in no range", ">=0", []string{"0"}, []string{"latest", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := compileVersion(tt.pattern)
			if err != nil {
				t.Fatalf("compileVersion(%q): %v", tt.pattern, err)
			}
			for _, v := range tt.in {
				if ok, reason := m.match(v); !ok {
					t.Errorf("%q does not take %q: %s", tt.pattern, v, reason)
				}
			}
			for _, v := range tt.out {
				if ok, reason := m.match(v); ok {
					t.Errorf("%q takes %q: %s", tt.pattern, v, reason)
				}
			}
		})
	}
}

func TestVersionPatternErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{"rejects an unclosed glob bracket", "9.[1", "malformed"},
		{"rejects an operator without a version", ">=", "needs a version"},
		{"rejects a version with four parts", ">=9.1.0.1", "more than three parts"},
		{"rejects a vendor suffix in a range", ">=9.1.0-h3", "vendor suffixes"},
		{"rejects an empty side of ||", ">=9 ||", "empty side"},
		{"rejects a doubled operator", "==9", "one to three numbers"},
		{"rejects words", ">=nine", "one to three numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileVersion(tt.pattern)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("compileVersion(%q) error = %v, want it to contain %q", tt.pattern, err, tt.wantErr)
			}
		})
	}
}

func TestParseAssetVersion(t *testing.T) {
	tests := []struct {
		in   string
		want version
		ok   bool
	}{
		{"9.1.0-h3", version{9, 1, 0}, true},
		{"18.2R3-S1", version{18, 2, 0}, true},
		{"10.2.4-h2", version{10, 2, 4}, true},
		{"7.0.1.2", version{7, 0, 1}, true},
		{"21.Q2.0", version{21, 0, 0}, true},
		{"16.04", version{16, 4, 0}, true},
		{"9.", version{9, 0, 0}, true},
		{"latest", version{}, false},
	}
	for _, tt := range tests {
		t.Run("reads "+tt.in, func(t *testing.T) {
			got, ok := parseAssetVersion(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseAssetVersion(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
