package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"cert_path", "key_path", "reload_command", "ssh_port"}
	for _, tc := range []struct {
		name, typed, want string
	}{
		{"finds a shortened name", "reload_cmd", "reload_command"},
		{"finds a name typed in capitals", "SSH_PORT", "ssh_port"},
		{"finds a swapped pair of letters", "kye_path", "key_path"},
		{"finds nothing for a name unlike any", "colour", ""},
		{"finds nothing for an empty name", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Closest(tc.typed, known)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("Closest(%q) = %q, %v; want %q", tc.typed, got, ok, tc.want)
			}
		})
	}
}

func TestClosestPrefersTheFirstOfNamesEquallyNear(t *testing.T) {
	if got, _ := Closest("port", []string{"sort", "post"}); got != "sort" {
		t.Errorf("Closest = %q, want sort, the first of the two names one edit away", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"reload_cmd", "reload_command", 4},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
