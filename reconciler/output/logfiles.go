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
	l := &lazyFile{g: g, path: path, opts: g.sharedOptions(o)}
	if _, stream, ok := indexOf(path, false); ok {
		l.stream, l.run = stream, g.opts.Now().UnixNano()
	}
	return l
}

// lazyFile is kept small: there are two per instance, most of them never
// written to.
type lazyFile struct {
	g    *Group
	path string
	opts *FileOptions  // shared, never written to (sharedOptions)
	f    *fileRef      // nil until the first write
	idx  *arrivalIndex // shared from the first write on

	run    int64 // when the run began (Unix nanoseconds); 0 once recorded
	stream byte  // o or e; 0: no arrival index
}

// sharedOptions returns a pointer to options equal to o, shared with the
// LazyFiles made before it with the same options (every `auto` log of the
// daemon has the same): the Group remembers the last ones.
func (g *Group) sharedOptions(o FileOptions) *FileOptions {
	if last := g.lastOpts.Load(); last != nil && *last == o {
		return last
	}
	g.lastOpts.Store(&o)
	return &o
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := l.g.OpenFile(l.path, *l.opts)
		if err != nil {
			return 0, err
		}
		l.f = f.(*fileRef)
		if index, _, ok := indexOf(l.path, true); ok {
			l.idx = l.g.shareIndex(index)
		}
	}
	if l.idx == nil {
		return l.f.Write(p)
	}
	return l.f.sf.writeNoted(p, func(ino uint64, off int64) {
		l.idx.note(l.g.opts.Now(), l.stream, ino, off, l.run)
		l.run = 0
	})
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	if l.idx != nil {
		l.g.releaseIndex(l.idx)
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
