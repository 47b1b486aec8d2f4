// Package suggest finds the likely intended word for a mistyped one: the
// "did you mean" of the plan loader's unknown keys and placeholders and of
// the command line's unknown flags.
package suggest

import "strings"

// Closest returns the candidate closest to s by edit distance, ignoring
// case, when it is close enough to be a likely typo (at most a third of the
// candidate's length, and at least one edit), else "".
func Closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := Distance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, len(best)/3) {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance of a and b in bytes. Strings longer
// than 64 bytes are never a typo of each other: it returns 99 for them,
// which also bounds the work for hostile input.
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
