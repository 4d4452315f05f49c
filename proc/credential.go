package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// LookupUser resolves a user, and optionally a group, the way `su - USER`
// would: the user's uid, its primary group (or group, when given) and its
// supplementary groups (os/user GroupIds, i.e. initgroups). It also returns the
// environment additions HOME, USER, LOGNAME and SHELL.
//
// Numeric names are accepted. A numeric user that is not in the user database
// runs with gid = uid (or group), no supplementary groups, HOME=/ and
// SHELL=/bin/sh. A numeric group need not exist either.
func LookupUser(name, group string) (Credential, []string, error) {
	if name == "" {
		return Credential{}, nil, errors.New("lookup user: empty name")
	}
	u, err := lookupUser(name)
	var cred Credential
	var env []string
	switch {
	case err == nil:
		uid, err := parseID(u.Uid)
		if err != nil {
			return Credential{}, nil, fmt.Errorf("lookup user %s: uid: %w", name, err)
		}
		gid, err := parseID(u.Gid)
		if err != nil {
			return Credential{}, nil, fmt.Errorf("lookup user %s: gid: %w", name, err)
		}
		cred = Credential{UID: uid, GID: gid}
		gids, err := u.GroupIds()
		if err != nil {
			return Credential{}, nil, fmt.Errorf("lookup groups of user %s: %w", name, err)
		}
		for _, g := range gids {
			n, err := parseID(g)
			if err != nil {
				return Credential{}, nil, fmt.Errorf("lookup groups of user %s: %w", name, err)
			}
			cred.Groups = append(cred.Groups, n)
		}
		home := u.HomeDir
		if home == "" {
			home = "/"
		}
		env = []string{"HOME=" + home, "USER=" + u.Username, "LOGNAME=" + u.Username, "SHELL=" + loginShell(u.Username)}
	default:
		n, nerr := parseID(name)
		if nerr != nil {
			return Credential{}, nil, fmt.Errorf("lookup user %s: %w", name, err)
		}
		cred = Credential{UID: n, GID: n}
		env = []string{"HOME=/", "USER=" + name, "LOGNAME=" + name, "SHELL=/bin/sh"}
	}
	if group != "" {
		gid, err := lookupGroup(group)
		if err != nil {
			return Credential{}, nil, err
		}
		cred.GID = gid
		if len(cred.Groups) > 0 && !slices.Contains(cred.Groups, gid) {
			cred.Groups = append(cred.Groups, gid)
		}
	}
	return cred, env, nil
}

// lookupUser looks name up as a user name, then as a uid when numeric.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, nerr := parseID(name); nerr == nil {
		if u, err2 := user.LookupId(name); err2 == nil {
			return u, nil
		}
	}
	return nil, err
}

// lookupGroup resolves a group name or gid.
func lookupGroup(group string) (uint32, error) {
	g, err := user.LookupGroup(group)
	if err == nil {
		gid, err := parseID(g.Gid)
		if err != nil {
			return 0, fmt.Errorf("lookup group %s: %w", group, err)
		}
		return gid, nil
	}
	if n, nerr := parseID(group); nerr == nil {
		return n, nil
	}
	return 0, fmt.Errorf("lookup group %s: %w", group, err)
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, err
	}
	return uint32(n), nil
}

// loginShell returns the user's shell from /etc/passwd (os/user does not
// expose it), or /bin/sh.
func loginShell(name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name && fields[6] != "" {
			return fields[6]
		}
	}
	return "/bin/sh"
}
