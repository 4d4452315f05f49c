package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestExit(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{&ExitError{Code: 1}, 1, ""},
		{fmt.Errorf("wait: %w", &ExitError{Code: 1, Msg: "timed out"}), 1, "x: timed out\n"},
		{&UsageError{errors.New("name the programs")}, 2, "x: name the programs\n"},
		{errors.New(`unknown command "frob" for "x"`), 2, "x: unknown command \"frob\" for \"x\"\n"},
		{errors.New("boom"), 1, "x: boom\n"},
	} {
		var out strings.Builder
		if code := Exit(tc.err, &out, "x"); code != tc.code || out.String() != tc.out {
			t.Errorf("Exit(%v) = %d %q, want %d %q", tc.err, code, out.String(), tc.code, tc.out)
		}
	}
}

func TestUsageArgs(t *testing.T) {
	check := UsageArgs(cobra.ExactArgs(1))
	if err := check(&cobra.Command{}, []string{"a"}); err != nil {
		t.Errorf("one argument: %v", err)
	}
	if err := check(&cobra.Command{}, nil); !IsUsage(err) {
		t.Errorf("no argument: %v is not a usage error", err)
	}
}
