package output

import (
	"io"
	"path/filepath"
	"sync"
)

// sharedFile is a File open in a Group, with the number of its references.
type sharedFile struct {
	*File
	refs int
}

// OpenFile opens the log file at path for a pump, or shares the one already
// open at that path (whose limits then become o's: the newest spec's). Close
// the result when done with it; the pump that gets it as a Target does.
//
// The open itself runs outside the Group's lock, so that instances starting
// together open their files in parallel; when two open the same path at
// once, the second one to finish closes its file and shares the first's.
func (g *Group) OpenFile(path string, o FileOptions) (io.WriteCloser, error) {
	path = filepath.Clean(path)
	if ref := g.share(path, o); ref != nil {
		return ref, nil
	}
	f, err := OpenFile(path, o)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	sf := g.files[path]
	if sf == nil {
		sf = &sharedFile{File: f, refs: 1}
		g.files[path] = sf
		f = nil
	} else {
		sf.refs++
		sf.setOptions(o)
	}
	g.mu.Unlock()
	if f != nil {
		f.Close() // lost the race: never written
	}
	return &fileRef{g: g, sf: sf}, nil
}

// LazyFile is OpenFile at the first write: a log file is opened, or
// created, when the pump has something to write to it. An instance that
// never writes costs no open(2) and no close(2), and leaves no empty file.
// A failure to open is a failing write (retried, reported: see Pump). Like
// every target, it is used by one pump, one goroutine at a time.
//
// It is the daemon's `auto` log: when path is NAME-i.stdout.log or
// NAME-i.stderr.log, the chunks written are recorded in the instance's
// arrival index NAME-i.index beside it (see arrivals.go), opened at the
// first record too. The call marks the start of a run: make a new
// LazyFile for each process.
func (g *Group) LazyFile(path string, o FileOptions) io.WriteCloser {
	_, letter, _ := indexOf(path, false)
	return g.lazy(lazyKind{opts: o, letter: letter}, path)
}

// AutoLog is the LazyFile of the `auto` log of stream (stdout or stderr)
// of instance (NAME-i) in dir, LogName(instance, stream) there, whose path
// is made only when needed: at the first write, or when the pump reports
// about it (it is its Name, for a Target without one). An instance that
// never writes costs a small struct, and no path.
func (g *Group) AutoLog(dir, instance, stream string, o FileOptions) io.WriteCloser {
	k := lazyKind{opts: o, auto: true, dir: dir, stream: stream}
	switch stream {
	case "stdout":
		k.letter = 'o'
	case "stderr":
		k.letter = 'e'
	}
	return g.lazy(k, instance)
}

// lazyFile is kept small: there are two per instance, most of them never
// written to. What its kind says is shared by the lazy files of the same
// kind (every `auto` log of the daemon's stdout is of one kind).
type lazyFile struct {
	kind *lazyKind
	name string        // the path; for an AutoLog, the instance
	f    *fileRef      // nil until the first write
	idx  *arrivalIndex // shared from the first write on
	run  int64         // when the run began (Unix nanoseconds); 0 once recorded
}

// lazyKind is what lazy files share. It is never written to once made.
type lazyKind struct {
	g    *Group
	opts FileOptions
	// auto: an AutoLog, whose path is dir/LogName(name, stream).
	auto        bool
	dir, stream string
	letter      byte // the arrival index's o or e; 0: no arrival index
}

// lazyKinds is how many kinds a Group remembers for sharing.
const lazyKinds = 8

// lazy returns a lazy file of kind k (its g is set here) named name,
// sharing k with those made before it when the Group remembers it.
func (g *Group) lazy(k lazyKind, name string) *lazyFile {
	k.g = g
	l := &lazyFile{name: name}
	if k.letter != 0 {
		l.run = g.opts.Now().UnixNano()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, known := range g.kinds {
		if *known == k {
			l.kind = known
			return l
		}
	}
	l.kind = &k
	if len(g.kinds) == lazyKinds {
		g.kinds = append(g.kinds[:0], g.kinds[1:]...) // the oldest goes
	}
	g.kinds = append(g.kinds, l.kind)
	return l
}

// Name is the file's path.
func (l *lazyFile) Name() string {
	if l.kind.auto {
		return filepath.Join(l.kind.dir, LogName(l.name, l.kind.stream))
	}
	return l.name
}

// indexPath returns the path of the file's arrival index, if it has one.
func (l *lazyFile) indexPath() (string, bool) {
	switch {
	case l.kind.letter == 0:
		return "", false
	case l.kind.auto:
		return filepath.Join(l.kind.dir, IndexName(l.name)), true
	}
	index, _, ok := indexOf(l.name, true)
	return index, ok
}

func (l *lazyFile) Write(p []byte) (int, error) {
	g := l.kind.g
	if l.f == nil {
		f, err := g.OpenFile(l.Name(), l.kind.opts)
		if err != nil {
			return 0, err
		}
		l.f = f.(*fileRef)
		if index, ok := l.indexPath(); ok {
			l.idx = g.shareIndex(index)
		}
	}
	if l.idx == nil {
		return l.f.Write(p)
	}
	return l.f.sf.writeNoted(p, func(ino uint64, off int64) {
		l.idx.note(g.opts.Now(), l.kind.letter, ino, off, l.run)
		l.run = 0
	})
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	if l.idx != nil {
		l.kind.g.releaseIndex(l.idx)
		l.idx = nil
	}
	return l.f.Close()
}

// share returns a new reference to the file open at path, or nil.
func (g *Group) share(path string, o FileOptions) *fileRef {
	g.mu.Lock()
	defer g.mu.Unlock()
	sf := g.files[path]
	if sf == nil {
		return nil
	}
	sf.refs++
	sf.setOptions(o)
	return &fileRef{g: g, sf: sf}
}

// fileRef is one reference to a shared File.
type fileRef struct {
	g    *Group
	sf   *sharedFile
	once sync.Once
}

func (r *fileRef) Write(p []byte) (int, error) { return r.sf.Write(p) }

func (r *fileRef) Close() error {
	var err error
	r.once.Do(func() {
		r.g.mu.Lock()
		defer r.g.mu.Unlock()
		if r.sf.refs--; r.sf.refs == 0 {
			delete(r.g.files, r.sf.path)
			err = r.sf.File.Close()
		}
	})
	return err
}
