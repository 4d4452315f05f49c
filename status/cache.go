package status

import "time"

// encodeCache is what a Writer remembers of the last status it encoded for
// one program: its instances and, for each, where its YAML lies in the
// file. The next encoding copies the bytes of every instance that has not
// changed, so that a status of thousands of instances in which one process
// exited costs a copy of the file and the encoding of one instance, not of
// all. Only the flush that owns it uses it.
type encodeCache struct {
	insts []Instance // the last status's instances (the caller does not change them: Writer.Update)
	spans []span     // of each in data
	spare []span     // the spans before those, for the next encoding
	data  []byte     // the last status's YAML
	free  []byte     // the YAML before that, for the next encoding
}

// span is where one instance's lines lie in encodeCache.data.
type span struct{ from, to int }

// newBuf returns an empty buffer of at least size bytes: the cache's free
// one if it is big enough (c may be nil). The YAML of a program of 5000
// instances is 1.7 MB, and a new buffer per write made a collection of the
// daemon's whole heap every few replacements.
func (c *encodeCache) newBuf(size int) []byte {
	if c != nil && cap(c.free) >= size {
		b := c.free[:0]
		c.free = nil
		return b
	}
	return make([]byte, 0, size)
}

// recycle keeps the cache's data before a write, old, as the buffer of the
// next encoding, once the write is over and nothing reads it any more: the
// cache holds the new encoding, and the caller's comparable form is a part
// of that. The cache, and the buffer with it, goes when the Writer trims.
func (c *encodeCache) recycle(old []byte) {
	if cap(old) == 0 || (cap(c.data) > 0 && &old[:1][0] == &c.data[:1][0]) {
		return // nothing, or still the cache's (the write failed before encoding)
	}
	c.free = old[:0]
}

// instances writes insts, copying from the cache those equal to the
// instance of the same index in it, and remembers insts and their spans.
// Both lists are in the order of their indexes, as the daemon writes them;
// in any other order the copies are fewer, never wrong.
func (c *encodeCache) instances(e *encoder, insts []Instance) {
	// Two span arrays take turns: the last status's is read while this
	// one's is written.
	spans := c.spare[:0]
	if cap(spans) < len(insts) {
		spans = make([]span, len(insts))
	}
	spans = spans[:len(insts)]
	j := 0
	for i := range insts {
		in := &insts[i]
		from := len(e.buf)
		for j < len(c.insts) && c.insts[j].Index < in.Index {
			j++
		}
		if j < len(c.insts) && sameInstance(&c.insts[j], in) {
			sp := c.spans[j]
			e.buf = append(e.buf, c.data[sp.from:sp.to]...)
			j++
		} else {
			e.instance(in)
		}
		spans[i] = span{from, len(e.buf)}
	}
	c.insts, c.spans, c.spare = insts, spans, c.spans
}

// sameInstance reports whether a and b encode alike: every field equal,
// pointers compared by what they point to, times by Equal (the encoder
// writes them in UTC). TestSameInstanceSeesEveryField keeps it in step
// with Instance.
func sameInstance(a, b *Instance) bool {
	return a.Name == b.Name && a.Index == b.Index && a.State == b.State && a.Ready == b.Ready &&
		a.Health == b.Health && a.Pid == b.Pid && sameTime(a.StartedAt, b.StartedAt) &&
		a.Restarts == b.Restarts && a.SpecHash == b.SpecHash && sameExit(a.LastExit, b.LastExit) &&
		sameExits(a.RecentExits, b.RecentExits) && sameTime(a.NextRetryAt, b.NextRetryAt) && a.Message == b.Message
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || a.Equal(*b)
}

func sameExit(a, b *Exit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || (a.Code == b.Code && a.Signal == b.Signal && a.At.Equal(b.At) && a.RanFor == b.RanFor && a.Reason == b.Reason)
}

func sameExits(a, b []Exit) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true // the daemon shares the slice until the next exit
	}
	for i := range a {
		if !sameExit(&a[i], &b[i]) {
			return false
		}
	}
	return true
}
