package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// barWidth is the number of cells in the terminal progress bar.
const barWidth = 30

// Progress reports how far a run is, from its own goroutine, until Stop.
type Progress struct {
	w        io.Writer
	terminal bool
	label    string
	total    int64
	done     func() int64
	start    time.Time

	stopOnce sync.Once
	stop     chan struct{}
	exited   chan struct{}
}

// StartProgress starts reporting done()/total to w every interval (> 0)
// under label. On a terminal each report redraws one line with \r; otherwise
// each report is a line of its own. done is called from the reporting
// goroutine and must be safe for concurrent use. A nil w returns a Progress
// whose Stop does nothing.
func StartProgress(w io.Writer, terminal bool, interval time.Duration, label string, total int64, done func() int64) *Progress {
	p := &Progress{
		w: w, terminal: terminal, label: label, total: total, done: done,
		start: time.Now(), stop: make(chan struct{}), exited: make(chan struct{}),
	}
	if w == nil {
		close(p.exited)
		return p
	}
	go p.loop(interval)
	return p
}

func (p *Progress) loop(interval time.Duration) {
	defer close(p.exited)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			if p.terminal {
				// Final state, then leave the line for the summary.
				fmt.Fprint(p.w, "\r"+FormatProgress(p.label, p.done(), p.total, time.Since(p.start), true)+"\n")
			}
			return
		case <-t.C:
			line := FormatProgress(p.label, p.done(), p.total, time.Since(p.start), p.terminal)
			if p.terminal {
				fmt.Fprint(p.w, "\r"+line)
			} else {
				fmt.Fprintln(p.w, line)
			}
		}
	}
}

// Stop ends reporting and waits for the reporting goroutine to exit. It is
// safe to call more than once.
func (p *Progress) Stop() {
	p.stopOnce.Do(func() {
		if p.w != nil {
			close(p.stop)
		}
	})
	<-p.exited
}

// FormatProgress renders one report: done of total messages, the percentage,
// the average rate since the start and the estimated time left. With bar set
// it adds a bar of barWidth cells and pads the line so that a shorter redraw
// overwrites a longer one.
func FormatProgress(label string, done, total int64, elapsed time.Duration, bar bool) string {
	frac := 0.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	eta := "?"
	switch {
	case done >= total:
		eta = "0s"
	case rate > 0:
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	var b strings.Builder
	b.WriteString(label)
	b.WriteString(" ")
	if bar {
		filled := int(frac * barWidth)
		b.WriteByte('[')
		for i := range barWidth {
			switch {
			case i < filled:
				b.WriteByte('=')
			case i == filled:
				b.WriteByte('>')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteString("] ")
	}
	fmt.Fprintf(&b, "%d/%d %5.1f%% %.0f msg/s ETA %s", done, total, frac*100, rate, eta)
	if bar {
		b.WriteString("   ") // erase the tail of a longer previous line
	}
	return b.String()
}
