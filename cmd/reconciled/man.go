package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newManCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write the man pages of every command into DIR",
		Long: `Write a man page (section 1) for reconciled and each of its commands into DIR,
which is created if needed: reconciled.1, reconciled-run.1, ... The date in
them is $SOURCE_DATE_EPOCH when set, for reproducible packages.`,
		Example: `  reconciled man /usr/local/share/man/man1 && mandb`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			date := time.Now()
			if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
				sec, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return &usageError{Err: fmt.Errorf("SOURCE_DATE_EPOCH: %q is not a number of seconds", s)}
				}
				date = time.Unix(sec, 0).UTC()
			}
			header := &doc.GenManHeader{Title: "RECONCILED", Section: "1", Date: &date,
				Source: "reconciled " + readBuildInfo().version, Manual: "reconciled manual"}
			if err := doc.GenManTree(cmd.Root(), header, dir); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			return nil
		},
	}
}
