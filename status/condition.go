package status

import "time"

// SetCondition returns conds with c in place of the condition of the same Type,
// or with c appended when there is none, so the order stays the order in which
// types were first set. LastTransitionTime is kept from the old condition when
// Status did not change, and set to now when it did or the condition is new;
// the value in c is ignored. conds itself is not modified, because it may be
// shared with a snapshot already handed to a Writer.
func SetCondition(conds []Condition, c Condition, now time.Time) []Condition {
	out := make([]Condition, len(conds), len(conds)+1)
	copy(out, conds)
	for i := range out {
		if out[i].Type != c.Type {
			continue
		}
		if out[i].Status == c.Status {
			c.LastTransitionTime = out[i].LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		out[i] = c
		return out
	}
	c.LastTransitionTime = now
	return append(out, c)
}

// FindCondition returns the condition of type typ in conds, and whether there is one.
func FindCondition(conds []Condition, typ string) (Condition, bool) {
	for _, c := range conds {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}
