// Package suggest finds the name a mistyped one was meant to be, for the
// "did you mean" of errors about settings and options.
package suggest

import "strings"

// Closest returns the name in known nearest to name, ignoring name's case,
// when it is near enough to be a slip of the keyboard: fewer edits than a
// third of name's length plus two. Of names equally near, the first in
// known wins, so a sorted known gives the same answer on every run.
func Closest(name string, known []string) (string, bool) {
	best, bestDistance := "", len(name)/3+2
	lower := strings.ToLower(name)
	for _, k := range known {
		if d := Distance(lower, k); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	return best, best != ""
}

// Distance is the Levenshtein distance between a and b: the fewest
// insertions, deletions and substitutions of a byte that turn a into b.
func Distance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}
