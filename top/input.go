package top

import (
	"strconv"

	tea "github.com/charmbracelet/bubbletea"
)

// lineInput is the one-line editor of the filter, the search and the
// palette. It has no blinking cursor: a blink would redraw twice a second.
type lineInput struct {
	prompt string
	text   []rune
}

// key edits the line; done is enter, cancel is esc.
func (l *lineInput) key(k tea.KeyMsg) (done, cancel bool) {
	switch k.Type {
	case tea.KeyEnter:
		return true, false
	case tea.KeyEsc, tea.KeyCtrlC:
		return false, true
	case tea.KeyBackspace, tea.KeyCtrlH:
		if len(l.text) > 0 {
			l.text = l.text[:len(l.text)-1]
		}
	case tea.KeyCtrlU:
		l.text = nil
	case tea.KeySpace:
		l.text = append(l.text, ' ')
	case tea.KeyRunes:
		l.text = append(l.text, k.Runes...)
	}
	return false, false
}

func (l *lineInput) String() string { return string(l.text) }

// view is the prompt, the text and a block as cursor.
func (l *lineInput) view() string { return l.prompt + string(l.text) + "█" }

func fmtFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
