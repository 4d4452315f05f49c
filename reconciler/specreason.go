package reconciler

import "errors"

// specReason is the reason of the SpecValid False condition that reports
// err: the error's own when it has one (manifest.FileError's NotRegularFile
// or Unreadable), else Invalid, the reason of a manifest that was read and
// found wrong.
func specReason(err error) string {
	var r interface{ SpecReason() string }
	if errors.As(err, &r) {
		return r.SpecReason()
	}
	return "Invalid"
}
