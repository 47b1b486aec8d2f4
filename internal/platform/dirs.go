package platform

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// appDir is the directory iclone-plan keeps under each base directory.
const appDir = "iclone-plan"

// StateDir is where iclone-plan keeps state that outlives a run but is not
// configuration (the task journals):
//
//   - Linux and other Unix: $XDG_STATE_HOME/iclone-plan, else ~/.local/state/iclone-plan
//   - macOS: ~/Library/Application Support/iclone-plan
//   - Windows: %LocalAppData%\iclone-plan
func StateDir() (string, error) { return stateDir(runtime.GOOS, os.Getenv) }

// CacheDir is where iclone-plan keeps what it can read again (the inventory
// cache):
//
//   - Linux and other Unix: $XDG_CACHE_HOME/iclone-plan, else ~/.cache/iclone-plan
//   - macOS: ~/Library/Caches/iclone-plan
//   - Windows: %LocalAppData%\iclone-plan\cache
func CacheDir() (string, error) { return cacheDir(runtime.GOOS, os.Getenv) }

// errNoHome is returned when the environment names no base directory.
var errNoHome = errors.New("neither the OS's per-user directory variable nor a home directory is set")

// stateDir is StateDir for goos with the environment getenv. It follows the
// OS's conventions rather than os.UserConfigDir, which has no state
// directory on Linux.
func stateDir(goos string, getenv func(string) string) (string, error) {
	switch goos {
	case "windows":
		return windowsLocal(getenv, appDir)
	case "darwin", "ios":
		return homeJoin(goos, getenv, "Library", "Application Support", appDir)
	case "plan9":
		return homeJoin(goos, getenv, "lib", appDir)
	}
	// XDG: a relative path is invalid and must be ignored.
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, appDir), nil
	}
	return homeJoin(goos, getenv, ".local", "state", appDir)
}

// cacheDir is CacheDir for goos with the environment getenv; it agrees with
// os.UserCacheDir on each OS, then adds iclone-plan (and, on Windows, where
// state and cache share %LocalAppData%, a cache subdirectory).
func cacheDir(goos string, getenv func(string) string) (string, error) {
	switch goos {
	case "windows":
		return windowsLocal(getenv, appDir, "cache")
	case "darwin", "ios":
		return homeJoin(goos, getenv, "Library", "Caches", appDir)
	case "plan9":
		return homeJoin(goos, getenv, "lib", "cache", appDir)
	}
	if d := getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, appDir), nil
	}
	return homeJoin(goos, getenv, ".cache", appDir)
}

func windowsLocal(getenv func(string) string, elem ...string) (string, error) {
	d := getenv("LocalAppData")
	if d == "" {
		return "", errors.New("%LocalAppData% is not set")
	}
	return filepath.Join(append([]string{d}, elem...)...), nil
}

// homeJoin joins elem to the home directory: $HOME, or $home on Plan 9.
func homeJoin(goos string, getenv func(string) string, elem ...string) (string, error) {
	home := getenv("HOME")
	if goos == "plan9" {
		home = getenv("home")
	}
	if home == "" {
		return "", errNoHome
	}
	return filepath.Join(append([]string{home}, elem...)...), nil
}
