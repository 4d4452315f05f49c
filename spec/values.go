package spec

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// parseDuration accepts a Go duration string ("500ms", "1m30s") or a bare
// number of seconds ("10", "2.5"), as supervisord's startsecs are numbers.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > float64(math.MaxInt64)/float64(time.Second) || f < -float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: 500ms, 10s, 1m30s, or a number of seconds)", s)
	}
	return d, nil
}

// sizeMultiplier returns what a size unit multiplies by, the unit given in
// lower case: k, m, g, t (and kb, mb, ...) are powers of 1000, ki, mi, gi, ti
// (and kib, ...) powers of 1024, b and no unit 1.
func sizeMultiplier(unit string) (int64, bool) {
	if unit == "" || unit == "b" {
		return 1, true
	}
	binary := strings.HasSuffix(strings.TrimSuffix(unit, "b"), "i")
	prefix := strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	if len(unit) > 3 || len(prefix) != 1 || !binary && len(unit) == 3 {
		return 0, false
	}
	exp := strings.IndexByte("kmgt", prefix[0]) + 1
	if exp == 0 {
		return 0, false
	}
	base, mult := int64(1000), int64(1)
	if binary {
		base = 1024
	}
	for range exp {
		mult *= base
	}
	return mult, true
}

// splitSize splits a size into its number and the multiplier of its unit,
// which is read in any case; ok is false for an unknown unit.
func splitSize(s string) (num string, mult int64, ok bool) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && ('a' <= t[i-1] && t[i-1] <= 'z' || 'A' <= t[i-1] && t[i-1] <= 'Z') {
		i--
	}
	mult, ok = sizeMultiplier(strings.ToLower(t[i:]))
	return strings.TrimSpace(t[:i]), mult, ok
}

// parseSize accepts a number of bytes, decimals allowed, with an optional
// unit in any case: K, M, G, T (and KB, MB, GB, TB) are powers of 1000; Ki,
// Mi, Gi, Ti (and KiB, MiB, GiB, TiB) of 1024: 50mb, 1.5GiB. A fraction of
// a byte is rounded up.
func parseSize(s string) (int64, error) {
	num, mult, ok := splitSize(s)
	if !ok || !decimalRE.MatchString(num) {
		return 0, fmt.Errorf("%q is not a size (examples: 1048576, 500K, 50MiB, 1.5GiB)", s)
	}
	n, ok := scaleUp(num, mult)
	if !ok {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

// scaleUp returns the decimal num times mult, rounded up to a whole number;
// ok is false when that does not fit in an int64.
func scaleUp(num string, mult int64) (int64, bool) {
	r, _ := new(big.Rat).SetString(num)
	r.Mul(r, new(big.Rat).SetInt64(mult))
	// Round up, as Kubernetes's Quantity.Value does.
	n := new(big.Int).Add(r.Num(), r.Denom())
	n.Sub(n, big.NewInt(1))
	n.Quo(n, r.Denom())
	return n.Int64(), n.IsInt64()
}

var stopSignals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// ParseSignal accepts a stop signal name with or without SIG, in any case.
func ParseSignal(s string) (Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if n, ok := stopSignals[name]; ok {
		return Signal{Name: name, Number: n}, nil
	}
	return Signal{}, fmt.Errorf("%q is not one of %s", s, strings.Join(stopSignalNames(), ", "))
}

// parseUmask reads the digits as octal whether or not they are quoted or have
// a leading 0, as supervisord's umask option does ("022", 022 and 22 agree).
func parseUmask(s string) (uint32, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0o"), "0O")
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil || n > 0o777 {
		return 0, fmt.Errorf("%q is not an octal umask between 000 and 777", s)
	}
	return uint32(n), nil
}

var errUnterminated = errors.New("unterminated quote")

// ShellOperator returns the first shell operator in s outside quotes and
// not escaped: a pipe, a redirection, a list operator or a glob ("|", "&&",
// ">", ";", "*", ...), or "" if there is none. A command string with one
// means what it says only to a shell: without shell: true, SplitWords
// passes it to the program as an argument. $(VAR) is reconciled's own
// expansion, not shell syntax.
func ShellOperator(s string) string {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			i++
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return ""
			}
			i += end + 1
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '|', '&', '>', '<':
			// "||", "&&", ">>", "2>&1": the operator as written.
			j := i + 1
			for j < len(s) && strings.IndexByte("|&><", s[j]) >= 0 {
				j++
			}
			return s[i:j]
		case ';', '*', '`':
			return string(c)
		}
	}
	return ""
}

// SplitWords splits s into words the way a POSIX shell does, honouring single
// quotes, double quotes and backslash escapes, without expanding anything or
// running a shell: `python3 -c 'print("a b")'` is two words and one argument.
func SplitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				if s[i] != '\n' { // backslash-newline is a line continuation
					cur.WriteByte(s[i])
				}
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errUnterminated
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				// Inside double quotes a backslash escapes only these, as in sh.
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errUnterminated
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
