package platform

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestDirs(t *testing.T) {
	j := filepath.Join
	tests := []struct {
		name       string
		goos       string
		env        map[string]string
		state      string
		cache      string
		errs, errc bool
	}{
		{name: "linux XDG", goos: "linux",
			env:   map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "/xs", "XDG_CACHE_HOME": "/xc"},
			state: j("/xs", "iclone-plan"), cache: j("/xc", "iclone-plan")},
		{name: "linux home", goos: "linux", env: map[string]string{"HOME": "/home/u"},
			state: j("/home/u", ".local", "state", "iclone-plan"), cache: j("/home/u", ".cache", "iclone-plan")},
		{name: "linux relative XDG ignored", goos: "linux",
			env:   map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "rel", "XDG_CACHE_HOME": "rel"},
			state: j("/home/u", ".local", "state", "iclone-plan"), cache: j("/home/u", ".cache", "iclone-plan")},
		{name: "freebsd like linux", goos: "freebsd", env: map[string]string{"HOME": "/usr/home/u"},
			state: j("/usr/home/u", ".local", "state", "iclone-plan"), cache: j("/usr/home/u", ".cache", "iclone-plan")},
		{name: "linux no home", goos: "linux", env: map[string]string{}, errs: true, errc: true},
		{name: "linux no home but XDG", goos: "linux", env: map[string]string{"XDG_STATE_HOME": "/xs"},
			state: j("/xs", "iclone-plan"), errc: true},
		{name: "darwin", goos: "darwin",
			env:   map[string]string{"HOME": "/Users/u", "XDG_STATE_HOME": "/xs", "XDG_CACHE_HOME": "/xc"},
			state: j("/Users/u", "Library", "Application Support", "iclone-plan"),
			cache: j("/Users/u", "Library", "Caches", "iclone-plan")},
		{name: "windows", goos: "windows",
			env:   map[string]string{"LocalAppData": `C:\Users\u\AppData\Local`, "HOME": "/ignored"},
			state: j(`C:\Users\u\AppData\Local`, "iclone-plan"),
			cache: j(`C:\Users\u\AppData\Local`, "iclone-plan", "cache")},
		{name: "windows without LocalAppData", goos: "windows", env: map[string]string{"HOME": "/h"}, errs: true, errc: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			s, err := stateDir(tt.goos, getenv)
			if (err != nil) != tt.errs || s != tt.state {
				t.Errorf("stateDir = %q, %v; want %q (error %v)", s, err, tt.state, tt.errs)
			}
			c, err := cacheDir(tt.goos, getenv)
			if (err != nil) != tt.errc || c != tt.cache {
				t.Errorf("cacheDir = %q, %v; want %q (error %v)", c, err, tt.cache, tt.errc)
			}
		})
	}
}

// CacheDir is os.UserCacheDir's directory on the OS the test runs on (on
// Windows, a subdirectory of it), so the rules above are the OS's own.
func TestCacheDirIsUserCacheDir(t *testing.T) {
	want, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	got, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		got = filepath.Dir(got)
	}
	if got != filepath.Join(want, "iclone-plan") {
		t.Errorf("CacheDir() = %q, os.UserCacheDir() = %q", got, want)
	}
}
