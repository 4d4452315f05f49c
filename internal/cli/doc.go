// Package cli is what the command-line binaries (reconciled and
// reconciled-export) share: the errors that carry an exit code, and the
// one rule that turns a command's error into its exit code and message.
//
// Exit codes: 0 success, 1 failure (or a wait that timed out), 2 a mistake
// on the command line (an unknown verb or flag, wrong arguments). A
// command never exits by itself; it returns one of these errors and main
// exits with Exit's code.
package cli
