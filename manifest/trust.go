package manifest

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

// The reasons for which the privilege policy refuses a manifest: its status
// shows SpecValid False with one of them.
const (
	// ReasonInsecureFile: the manifest, a directory on the way to it or a
	// symbolic link to it may be changed by a user the daemon does not
	// trust (the mode rule).
	ReasonInsecureFile = "InsecureFile"
	// ReasonUserNotAllowed: the manifest names a user (or group) its owner
	// may not run as (the owner rule).
	ReasonUserNotAllowed = "UserNotAllowed"
)

// TrustError is a manifest that the privilege policy refuses.
type TrustError struct {
	Reason  string // ReasonInsecureFile or ReasonUserNotAllowed
	Message string // what is wrong, with mode and owner, or the field
}

func (e *TrustError) Error() string { return e.Message }

// Users resolves spec.user and spec.group as the daemon does when it starts
// an instance (proc.LookupUser). A nil Users in a Policy is the system's
// user database.
type Users interface {
	Lookup(user, group string) (proc.Credential, error)
}

type osUsers struct{}

func (osUsers) Lookup(user, group string) (proc.Credential, error) {
	c, _, err := proc.LookupUser(user, group)
	return c, err
}

// Policy is the privilege policy of a daemon running as root (DESIGN §13),
// after sshd's StrictModes and cron: whoever can write a manifest decides
// what runs, so a manifest runs with no more privilege than its owner has.
//
// The mode rule (Check): the manifest's real file and every real directory
// a name is looked up in on the way to it from the spec directory must not
// be writable by group or other (unless on a read-only file system, or, for
// a directory a link led to out of the spec directory, sticky with the
// entries on the way owned by trusted users), and they and every symbolic
// link followed must be owned by root, the daemon's user or the manifest's
// owner.
//
// The owner rule (Admit): a manifest owned by root or the daemon's user may
// name any user; one owned by another uid U runs as U, its spec.user may
// only name U and its spec.group only a group U belongs to.
type Policy struct {
	// DaemonUID is the daemon's effective uid.
	DaemonUID uint32
	// TrustAllOwners turns the owner rule off (reconciled run
	// --trust-all-owners); the mode rule stays.
	TrustAllOwners bool
	// Users resolves user and group names; nil: the system's database.
	Users Users
}

// CheckPath resolves the entry name of the spec directory dir and applies
// the mode rule to its route (Check). It returns the route, whose File
// holds the manifest's owner for Admit, or the error of Resolve.
func (p Policy) CheckPath(fsys StatFS, dir, name string) (Route, error) {
	r, err := Resolve(fsys, dir, name)
	if err != nil {
		return Route{}, err
	}
	return r, p.Check(r)
}

// Check applies the mode rule to a route, the real file first, then the
// symbolic links, then the directories from the spec directory down. It
// returns a *TrustError with reason ReasonInsecureFile for the first entry
// that breaks it. A route without a file (Resolve of the directory alone)
// is checked as for a manifest that root owns.
func (p Policy) Check(r Route) error {
	owner := r.File.Stat.UID
	if r.File.Path != "" && writable(r.File) {
		return insecure("file", r.File, "writable by group or other")
	}
	for _, l := range r.Links {
		if !p.trusted(l.Stat.UID, owner) {
			return &TrustError{Reason: ReasonInsecureFile, Message: fmt.Sprintf("symbolic link %s: owner uid %d: %s",
				l.Path, l.Stat.UID, p.owners(owner))}
		}
	}
	for _, d := range r.Dirs {
		if writable(d) && !p.stickyOutside(d, owner) {
			return insecure("directory", d, "writable by group or other")
		}
		if !p.trusted(d.Stat.UID, owner) {
			return insecure("directory", d, p.owners(owner))
		}
	}
	return nil
}

// trusted reports whether uid may own an entry on the way to a manifest
// that owner owns.
func (p Policy) trusted(uid, owner uint32) bool {
	return uid == 0 || uid == p.DaemonUID || uid == owner
}

// stickyOutside reports whether d is a sticky directory (like /tmp) that a
// link led to out of the spec directory, whose entries on the way are all
// owned by trusted users: the sticky bit keeps others from renaming or
// removing those, so what the path leads to is safe. The spec directory and
// those below it get no such leave: they must not be writable at all.
func (p Policy) stickyOutside(d Entry, owner uint32) bool {
	if !d.Outside || d.Stat.Mode&fs.ModeSticky == 0 {
		return false
	}
	for _, uid := range d.Children {
		if !p.trusted(uid, owner) {
			return false
		}
	}
	return true
}

// owners says who may own an entry on the way to a manifest owner owns.
func (p Policy) owners(owner uint32) string {
	who := []string{"root"}
	if p.DaemonUID != 0 {
		who = append(who, fmt.Sprintf("the daemon's user (uid %d)", p.DaemonUID))
	}
	if owner != 0 && owner != p.DaemonUID {
		who = append(who, fmt.Sprintf("the manifest's owner (uid %d)", owner))
	}
	if len(who) == 1 {
		return "not owned by root"
	}
	return "owned by neither " + strings.Join(who[:len(who)-1], ", ") + " nor " + who[len(who)-1]
}

func writable(e Entry) bool {
	return e.Stat.Mode.Perm()&0o022 != 0 && !e.ReadOnly
}

func insecure(kind string, e Entry, why string) *TrustError {
	return &TrustError{Reason: ReasonInsecureFile, Message: fmt.Sprintf("%s %s: mode %04o owner uid %d: %s",
		kind, e.Path, unixMode(e.Stat.Mode), e.Stat.UID, why)}
}

// unixMode returns the permission and set-id bits as chmod numbers them.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// Admit applies the owner rule to prog, the valid manifest file (its name,
// for errors) holding data and owned by owner. It returns prog itself when
// the rule allows it as it is; a copy whose spec.user is owner's uid when
// the rule applies and spec.user is omitted; or a *TrustError with reason
// ReasonUserNotAllowed, located at the field, when spec.user names another
// user or spec.group a group the owner is not in. It never changes prog.
func (p Policy) Admit(file string, data []byte, owner uint32, prog *spec.Program) (*spec.Program, error) {
	if p.TrustAllOwners || owner == 0 || owner == p.DaemonUID {
		return prog, nil
	}
	users := p.Users
	if users == nil {
		users = osUsers{}
	}
	self := strconv.FormatUint(uint64(owner), 10)
	user := prog.Spec.User
	if user == "" {
		user = self
	}
	refuse := func(field, format string, args ...any) error {
		e := &spec.Error{File: file, Field: field, Message: fmt.Sprintf(format, args...) +
			fmt.Sprintf(": a manifest owned by uid %d runs only as that user (chown it to root, or run the daemon with --trust-all-owners)", owner)}
		e.Line, e.Column, _ = spec.Locate(data, strings.Split(field, ".")...)
		return &TrustError{Reason: ReasonUserNotAllowed, Message: e.Error()}
	}
	c, err := users.Lookup(user, "")
	switch {
	case err != nil:
		return nil, refuse("spec.user", "names a user that cannot be resolved")
	case c.UID != owner:
		return nil, refuse("spec.user", "names uid %d", c.UID)
	}
	if group := prog.Spec.Group; group != "" {
		g, err := users.Lookup(user, group)
		switch {
		case err != nil:
			return nil, refuse("spec.group", "names a group that cannot be resolved")
		case g.GID != c.GID && !slices.Contains(c.Groups, g.GID):
			return nil, refuse("spec.group", "names gid %d, a group uid %d is not in", g.GID, owner)
		}
	}
	if prog.Spec.User != "" {
		return prog, nil
	}
	cp := *prog
	cp.Spec.User = self
	return &cp, nil
}

// WithPolicy returns the store whose Apply also refuses a manifest that a
// root daemon with policy p would refuse: the file as it will be (its mode
// and owner kept, or 0644 and the caller's uid for a new one) and the
// directories on its way under the mode rule, its content under the owner
// rule. reconciled apply uses it when it runs as root.
func (d Dir) WithPolicy(p Policy) Dir {
	d.policy = &p
	return d
}

// checkPolicy applies the store's policy, if any, to data, parsed as prog,
// about to be written as file.
func (d Dir) checkPolicy(file File, data []byte, prog *spec.Program) error {
	if d.policy == nil {
		return nil
	}
	var r Route
	var err error
	if file.Info == nil {
		r, err = Resolve(OSFS{}, d.path, "")
		r.File = Entry{Path: file.Path, Stat: Stat{Mode: 0o644, UID: uint32(os.Geteuid())}}
	} else {
		r, err = Resolve(OSFS{}, d.path, file.Base)
	}
	if err == nil {
		err = d.policy.Check(r)
	}
	if err == nil {
		_, err = d.policy.Admit(file.Base, data, r.File.Stat.UID, prog)
	}
	if err != nil {
		return fmt.Errorf("a daemon running as root would refuse it, nothing was written: %w", err)
	}
	return nil
}

// Hashes returns the spec hashes a daemon may run the manifest at path,
// parsed as prog, under: spec.Hash(prog) and, when prog names no user and
// the file (symbolic links followed) is owned by a uid other than root, the
// hash of prog run as that uid, which is what the owner rule of a root
// daemon runs. A command that compares a manifest with its status (wait,
// describe) accepts either: it cannot tell how the daemon runs.
func Hashes(path string, prog *spec.Program) []string {
	hashes := []string{spec.Hash(prog)}
	if prog.Spec.User != "" {
		return hashes
	}
	fi, err := os.Stat(path)
	if err != nil {
		return hashes
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		cp := *prog
		cp.Spec.User = strconv.FormatUint(uint64(st.Uid), 10)
		hashes = append(hashes, spec.Hash(&cp))
	}
	return hashes
}
