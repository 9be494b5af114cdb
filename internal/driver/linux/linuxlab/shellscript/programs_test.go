package shellscript

import (
	"slices"
	"testing"
)

func TestProgramsNamesWhatAScriptStarts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   []string
	}{
		{"builtins and the script's functions are not programs",
			"set -e\nf() { printf '%s\\n' x; }\nf\n[ -e /x ] || echo no\ncommand -v systemctl >/dev/null", nil},
		{"openssl is named with its subcommand, each program once",
			"openssl version\ncsr=$(openssl req -new -nodes)\nopenssl version\ncp -p a b", []string{"openssl version", "openssl req", "cp"}},
		{"branches count whether or not they run",
			"if false; then rm -f -- x; fi\n[ -d d ] || mkdir -p -- d", []string{"rm", "mkdir"}},
		{"exec names the program it runs",
			"exec rm -f -- a b", []string{"rm"}},
		{"commands inside substitutions and functions count",
			"g() { v=$(uname -sr); }\nprintf '%s\\n' \"$(id -u)\"", []string{"uname", "id"}},
		{"a command word that is a variable is returned as written",
			"for hook in d/*.sh; do out=$(OTTR_HOOK_PHASE=pre \"$hook\" 2>&1); done", []string{`"$hook"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Programs(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Programs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProgramsRefusesAScriptThatDoesNotParse(t *testing.T) {
	if _, err := Programs("if then fi ("); err == nil {
		t.Error("a script that does not parse gave no error")
	}
}
