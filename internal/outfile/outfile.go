// Package outfile writes the files a run produces (report, metrics, saved
// plan) at a path the user names, without ever replacing what the path
// stands for:
//
//   - a regular file, or a path that does not exist yet, is replaced
//     atomically: written to a temporary file in the same directory, synced,
//     then renamed over it, so readers never see half a file;
//   - a symbolic link is followed: its final target is replaced atomically in
//     the target's own directory, and the link stays a link;
//   - a device (/dev/null, /dev/stdout, a terminal), a FIFO or another file
//     that is not regular is written directly, never removed or replaced (as
//     root, renaming over /dev/null would break the host);
//   - a directory is an error that says to name a file.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// maxLinks is how many symbolic links WriteFile follows, as Linux's
// MAXSYMLINKS.
const maxLinks = 40

// WriteFile writes data to the file at path, as Write does.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write writes what write writes to the file at path: a regular file (or a
// new one, with permissions perm) is replaced atomically, a symbolic link's
// target is, and a device or FIFO is written in place. See the package
// comment.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	target, fi, err := resolve(path)
	if err != nil {
		return err
	}
	switch {
	case fi == nil || fi.Mode().IsRegular():
		return replace(target, perm, write)
	case fi.IsDir():
		return fmt.Errorf("%s is a directory; name a file in it, e.g. %s", path, filepath.Join(path, "out.json"))
	default:
		return writeInPlace(path, target, fi, write)
	}
}

// resolve follows the symbolic links of path to the file they end at. It
// returns that file's path and its information, nil when it does not exist
// (a new file, or a dangling link's target).
func resolve(path string) (string, fs.FileInfo, error) {
	p := path
	for range maxLinks {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, fi, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(link) {
			// Relative to the link's directory as the kernel sees it: a ".."
			// after a linked directory goes up from where the link points.
			dir, err := filepath.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return "", nil, err
			}
			link = filepath.Join(dir, link)
		}
		p = link
	}
	return "", nil, fmt.Errorf("%s: too many levels of symbolic links", path)
}

// replace writes a temporary file next to path and renames it over path.
func replace(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a failure; gone after the rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeInPlace writes to a file that is not regular, opened without
// creating or truncating it. A FIFO is opened without blocking, so that one
// without a reader is an error rather than a run that never ends.
func writeInPlace(path, target string, fi fs.FileInfo, write func(io.Writer) error) error {
	flag := os.O_WRONLY
	if fi.Mode()&fs.ModeNamedPipe != 0 {
		flag |= syscall.O_NONBLOCK
	}
	f, err := os.OpenFile(target, flag, 0)
	if errors.Is(err, syscall.ENXIO) && fi.Mode()&fs.ModeNamedPipe != 0 {
		return fmt.Errorf("%s is a FIFO that no process reads; start its reader first, or name a regular file", path)
	}
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
