package proc

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// defaultPath is used when the instance's environment has no PATH (systemd's
// default search path).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath resolves file the way the instance would: with the PATH of its own
// environment env, and relative paths against its working directory dir (not
// the daemon's). An absolute file is returned unchecked, so that callers that
// resolved it already pay nothing; exec reports what is wrong with it.
//
// Unlike exec.LookPath, a relative PATH entry (including an empty one, which
// means ".") is allowed and taken relative to dir, as the instance's own shell
// would; the result is always made absolute so that it does not depend on the
// order of chdir and exec.
func lookPath(file string, env []string, dir string) (string, error) {
	if filepath.IsAbs(file) {
		return file, nil
	}
	if strings.Contains(file, "/") {
		p, err := absIn(dir, file)
		if err == nil {
			err = checkExecutable(p)
		}
		if err != nil {
			return "", &exec.Error{Name: file, Err: err}
		}
		return p, nil
	}
	if file == "" {
		return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
	}
	pathEnv, ok := getenv(env, "PATH")
	if !ok {
		pathEnv = defaultPath
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p, err := absIn(dir, filepath.Join(d, file))
		if err != nil {
			continue
		}
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// absIn makes p absolute, relative to dir when dir is set, else relative to
// the daemon's working directory.
func absIn(dir, p string) (string, error) {
	if filepath.IsAbs(p) {
		return p, nil
	}
	if dir != "" {
		p = filepath.Join(dir, p)
		if filepath.IsAbs(p) {
			return p, nil
		}
	}
	return filepath.Abs(p)
}

// checkExecutable reports whether p is a regular file with an execute bit. It
// checks as the daemon, not as the instance's user: exec tells the rest.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}

// getenv returns the value of key in env. With a duplicated key the first one
// wins, as it does for getenv(3) in the child.
func getenv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key); ok && len(v) > 0 && v[0] == '=' {
			return v[1:], true
		}
	}
	return "", false
}

// LookPath resolves file as Start does when Spec.Path is empty: with the PATH
// of env (the instance's environment), relative paths against dir. Callers
// that start the same command many times resolve it once and pass the result
// as Spec.Path.
func LookPath(file string, env []string, dir string) (string, error) {
	return lookPath(file, env, dir)
}
