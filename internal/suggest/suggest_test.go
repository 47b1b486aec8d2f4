package suggest

import "testing"

func TestClosest(t *testing.T) {
	flags := []string{"auto-approve", "report", "metrics-file", "journal", "sim", "json"}
	tests := []struct {
		s          string
		candidates []string
		want       string
	}{
		{"auto-aprove", flags, "auto-approve"},
		{"AUTO-APPROVE", flags, "auto-approve"}, // case is ignored
		{"reprot", flags, "report"},
		{"metrics-fil", flags, "metrics-file"},
		{"sin", flags, "sim"}, // one edit is always close enough
		{"jsn", flags, "json"},
		{"verbose", flags, ""}, // nothing close
		{"x", flags, ""},
		{"cloneNmae", []string{"name", "cloneName", "count"}, "cloneName"},
		{"anything", nil, ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.s, tt.candidates); got != tt.want {
			t.Errorf("Closest(%q) = %q; want %q", tt.s, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"plan", "plan", 0},
		{"plna", "plan", 2},
		{"plan", "", 4},
		{"kitten", "sitting", 3},
		{string(make([]byte, 65)), "", 99},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
