package reconciler

import (
	"errors"

	"github.com/reconciled/reconciled/manifest"
)

// invalidReason is the reason of the SpecValid condition for a manifest
// that is not run: the privilege policy's (InsecureFile, UserNotAllowed)
// when it refused it, the store's (NotRegularFile, Unreadable) when it
// could not read it, Invalid otherwise.
func invalidReason(err error) string {
	var te *manifest.TrustError
	if errors.As(err, &te) {
		return te.Reason
	}
	var fe *manifest.FileError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return "Invalid"
}
