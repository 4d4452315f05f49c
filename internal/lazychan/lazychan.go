package lazychan

// Get returns *ch, made at the first call and closed at once when fired
// is already true. The caller holds the lock that guards *ch and fired;
// whoever fires sets fired and closes *ch if it is not nil, under it.
func Get(ch *chan struct{}, fired bool) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
		if fired {
			close(*ch)
		}
	}
	return *ch
}
