package top

import (
	"context"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/reconciled/reconciled/usage"
)

// Options configure the live view. The zero values of the optional fields
// are sensible defaults.
type Options struct {
	// Dir is the directory of manifests; StatusDir that of the status and
	// event files (Dir when empty).
	Dir, StatusDir string
	// Selector keeps the programs whose metadata.labels it matches (-l);
	// nil keeps every program.
	Selector labels.Selector
	// Describe writes what `reconciled describe NAME` prints, for the
	// describe pane; nil: no describe pane.
	Describe func(w io.Writer, program string)
	// Color draws states in colour and the selected row in reverse video
	// (see ColorWanted); without, plain text and a ">" marker.
	Color bool
	// Editor is the command line of the editor for E ($VISUAL or $EDITOR;
	// "vi" when empty).
	Editor string
	// Now is the clock of the uptime column (time.Now when nil).
	Now func() time.Time
	// In and Out are the terminal (standard input and output when nil).
	In  io.Reader
	Out io.Writer
}

// overlay is what covers the table, if anything.
type overlay int

const (
	noOverlay      overlay = iota
	helpOverlay            // ?
	graphOverlay           // g
	paletteOverlay         // :
	signalOverlay          // x
	editErrOverlay         // E saved an invalid manifest
)

// paneKind is the pane under the table.
type paneKind int

const (
	noPane paneKind = iota
	logsPane
	eventsPane
	describePane
)

// inputKind is what the line being typed is for.
type inputKind int

const (
	noInput inputKind = iota
	filterInput
	searchInput
	paletteInput
)

// Model is the live view's state: the bubbletea model. Update changes it
// only on a message (a key, a change on disk, a tick, an action's end);
// View draws it and changes nothing but scroll offsets.
type Model struct {
	ctx   context.Context
	opt   Options
	src   *source
	theme theme
	now   func() time.Time
	w, h  int

	progs   []*program
	held    bool // a daemon holds the directory
	pid     int
	loadErr error

	rows     []row
	cursor   int
	sel      rowKey
	offset   int // first table row shown
	expanded map[string]bool
	sortBy   sortKey
	filter   string

	pane      paneKind
	text      *textPane // the open pane's lines
	paneFor   rowKey    // what the open pane shows
	logs      *follower // the followed instance (logs pane)
	focusPane bool      // keys scroll the pane rather than move in the table

	overlay  overlay
	ov       *textPane // help, graph and edit errors
	input    *lineInput
	inputFor inputKind
	choice   int      // the highlighted entry of the palette or signal menu
	confirm  string   // the program a delete waits for "y" on
	edit     *editing // the manifest being edited with E

	pending  map[string]*progress // the changes being followed, by program
	flash    string               // the last action's outcome
	flashBad bool

	usage     *sampler
	newReader func() usageReader // nil: no usage
	hideUsage bool               // u: no CPU% and MEM columns (unless sorting by them)
	ticking   bool
	tickAt    time.Time // when the armed tick is due
	tickGen   int
	// nextSample is when usage may be read again: a second after the last
	// read at the earliest, later when reading took long (sampleShare).
	nextSample time.Time
	// after is tea.Tick; tests replace it to deliver ticks themselves.
	after func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	watcher *watcher  // nil in tests
	term    *terminal // nil in tests
}

// New returns the model of the view over o.Dir, with the directory read
// once.
func New(ctx context.Context, o Options) *Model {
	if o.StatusDir == "" {
		o.StatusDir = o.Dir
	}
	m := &Model{
		ctx:      ctx,
		opt:      o,
		src:      newSource(o.Dir, o.StatusDir, o.Selector),
		theme:    theme{color: o.Color},
		now:      o.Now,
		w:        80,
		h:        24,
		expanded: map[string]bool{},
		pending:  map[string]*progress{},
		usage:    newSampler(),
		sel:      rowKey{index: -1},
		after:    tea.Tick,
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.newReader = func() usageReader {
		dirs, _ := usage.ReadRecord(m.src.stateDir) // none: the daemon runs without cgroups
		return usage.NewReader(dirs)
	}
	m.reload(changes{all: true})
	return m
}

// changesMsg carries what the watcher saw.
type changesMsg changes

// tickMsg is the tick of the uptime and usage columns (nextTick).
type tickMsg struct{ gen int }

// Init starts listening to the watcher and the tick.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.listen(), m.schedule())
}

// listen waits for the watcher's next changes.
func (m *Model) listen() tea.Cmd {
	if m.watcher == nil {
		return nil
	}
	ch := m.watcher.out
	return func() tea.Msg { return changesMsg(<-ch) }
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
	case changesMsg:
		m.reload(changes(msg))
		cmd = m.listen()
	case tickMsg:
		if msg.gen == m.tickGen && m.ticking {
			m.ticking = false
			m.held, m.pid = m.src.daemon()
			if m.usageShown() && !m.now().Before(m.nextSample) {
				m.sampleUsage()
			}
		}
	case tea.KeyMsg:
		cmd = m.key(msg)
	case actionMsg:
		m.actionDone(msg)
	case editedMsg:
		cmd = m.edited(msg)
	}
	return m, tea.Batch(cmd, m.schedule())
}

// reload reads what c says changed and lays the table out again.
func (m *Model) reload(c changes) {
	if c.all || c.manifests {
		m.loadErr = m.src.readManifests()
	}
	if c.all {
		if err := m.src.readStatuses(); err != nil && m.loadErr == nil {
			m.loadErr = err
		}
	} else {
		for name := range c.statuses {
			m.src.readStatus(name)
		}
	}
	if c.all || c.daemon || len(c.statuses) > 0 {
		m.held, m.pid = m.src.daemon()
	}
	m.progs = m.src.programs()
	m.buildRows()
	m.checkProgress()
	m.refreshPane(c)
	if m.overlay == graphOverlay {
		top := m.ov.top
		m.openGraph()
		m.ov.top = top
	}
}

// schedule arms the tick for the next moment a figure on screen changes
// by the clock alone (nextTick); with none, no tick runs, and the view
// costs nothing until a file changes or a key is pressed. One tick chain
// at most: a tick that finds it was not re-armed (tickGen moved on) does
// nothing. An armed tick is replaced only by an earlier one.
func (m *Model) schedule() tea.Cmd {
	d, ok := m.nextTick()
	if !ok {
		return nil
	}
	at := m.now().Add(d)
	if m.ticking && !at.Before(m.tickAt) {
		return nil
	}
	m.ticking, m.tickAt = true, at
	m.tickGen++
	gen := m.tickGen
	return m.after(d, func(time.Time) tea.Msg { return tickMsg{gen} })
}

// nextTick is how long until a figure on screen changes by the clock, when
// a daemon holds the directory and no overlay hides the table: the next
// usage read when the usage columns are shown and a program on screen has
// a process (at most once a second, later when reading took long: see
// sampleUsage), and the next change of an uptime or of the age of a last
// exit shown (every second in the first hour, then every minute, then
// every hour). ok false: nothing on screen moves by itself.
func (m *Model) nextTick() (d time.Duration, ok bool) {
	if !m.held || m.overlay == helpOverlay || m.overlay == graphOverlay || m.edit != nil {
		return 0, false
	}
	now := m.now()
	soonest := func(x time.Duration) {
		if !ok || x < d {
			d, ok = x, true
		}
	}
	if m.usageShown() {
	usage:
		for _, p := range m.onScreen() {
			for _, in := range p.st.Status.Instances {
				if in.Pid > 0 {
					soonest(max(m.nextSample.Sub(now), time.Second))
					break usage
				}
			}
		}
	}
	end := min(m.offset+m.tableHeight(), len(m.rows))
	for i := max(m.offset, 0); i < end; i++ {
		in := m.rows[i].in
		switch {
		case in == nil:
		case in.Pid > 0 && in.StartedAt != nil:
			soonest(untilShownChange(now.Sub(*in.StartedAt)))
		case in.Pid == 0 && in.LastExit != nil && in.Message == "":
			soonest(untilShownChange(now.Sub(in.LastExit.At)))
		}
	}
	return d, ok
}

// untilShownChange is how long until shortDuration(age) shows another
// value.
func untilShownChange(age time.Duration) time.Duration {
	step := time.Second
	switch {
	case age < 0:
		return -age
	case age >= 48*time.Hour:
		step = time.Hour
	case age >= time.Hour:
		step = time.Minute
	}
	return step - age%step
}

// usageShown says whether the CPU% and MEM columns are drawn: unless u
// hid them, and always while sorting by them.
func (m *Model) usageShown() bool {
	return !m.hideUsage || m.sortBy == sortCPU || m.sortBy == sortMemory
}

// onScreen returns the programs whose rows are on screen; every program
// when sorting by CPU or memory, which needs all their figures.
func (m *Model) onScreen() []*program {
	if m.sortBy == sortCPU || m.sortBy == sortMemory {
		var all []*program
		for _, r := range m.rows {
			if r.in == nil {
				all = append(all, r.p)
			}
		}
		return all
	}
	var ps []*program
	end := min(m.offset+m.tableHeight(), len(m.rows))
	for i := max(m.offset, 0); i < end; i++ {
		if len(ps) == 0 || ps[len(ps)-1] != m.rows[i].p {
			ps = append(ps, m.rows[i].p)
		}
	}
	return ps
}

// sampleShare bounds the CPU that reading usage may take: a read that
// took d is not repeated before 100*d has passed (1% of a core). Reading
// a thousand instances' cgroups and /proc takes long enough to matter.
const sampleShare = 100

// sampleUsage reads the usage of the programs on screen, when a daemon
// holds the directory (else the pids may be other processes by now).
func (m *Model) sampleUsage() {
	if !m.held || m.newReader == nil {
		return
	}
	start := time.Now() // the cost in real time, whatever m.now says
	m.usage.sample(m.newReader(), m.onScreen(), m.now())
	m.nextSample = m.now().Add(max(time.Second, sampleShare*time.Since(start)))
	if m.sortBy == sortCPU || m.sortBy == sortMemory {
		m.buildRows()
	}
}
