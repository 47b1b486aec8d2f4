package platform

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Only a terminal is a terminal: the null device is a character device but
// must not count (it once did, and apply then waited for a confirmation no
// one could give).
func TestIsTerminalNot(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if fi, err := null.Stat(); err == nil && fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is not a character device here; the test proves nothing", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, w := range map[string]any{
		os.DevNull: null, "pipe": w, "regular file": file, "buffer": &bytes.Buffer{}, "nil": nil,
	} {
		if IsTerminal(w) {
			t.Errorf("IsTerminal(%s) = true", name)
		}
		if Color(w) {
			t.Errorf("Color(%s) = true", name)
		}
	}
}

func TestColorFor(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		terminal bool
		escapes  bool
		want     bool
	}{
		{"terminal", map[string]string{"TERM": "xterm-256color"}, true, true, true},
		{"not a terminal", map[string]string{"TERM": "xterm"}, false, true, false},
		{"NO_COLOR", map[string]string{"NO_COLOR": "1", "TERM": "xterm"}, true, true, false},
		{"NO_COLOR beats Windows Terminal", map[string]string{"NO_COLOR": "1", "WT_SESSION": "x"}, true, true, false},
		{"TERM=dumb", map[string]string{"TERM": "dumb"}, true, true, false},
		{"Windows Terminal", map[string]string{"WT_SESSION": "5f1c"}, true, false, true},
		{"Windows Terminal piped", map[string]string{"WT_SESSION": "5f1c"}, false, true, false},
		{"console without escapes", map[string]string{}, true, false, false},
		{"console with escapes, no TERM", map[string]string{}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			got := colorFor(func(k string) string { return tt.env[k] }, tt.terminal,
				func() bool { called = true; return tt.escapes })
			if got != tt.want {
				t.Errorf("colorFor = %v, want %v", got, tt.want)
			}
			if called && !tt.terminal {
				t.Error("escapes enabled on an output that is not a terminal")
			}
		})
	}
}
