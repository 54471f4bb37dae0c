package task

import "math"

// Progress is a running task's progress handle, passed to its [Func]. It is
// safe for concurrent use. Reports made after the task function returned
// are ignored.
type Progress struct {
	r *Runner
	t *task
}

// Report records the task's progress: a text for people and the fraction
// done, and sends it as a progress_update event.
//
// The fraction is clamped to [0, 1] and never goes backwards: a value below
// the last reported one is raised to it (the text is still updated), and NaN
// keeps the last value. Reports coalesce: while a browser is away or the
// gateway is slow, only the latest report is kept and then sent.
func (p *Progress) Report(text string, fraction float64) {
	if p == nil || p.t == nil {
		return
	}
	t := p.t
	t.mu.Lock()
	if t.status != StatusRunning {
		t.mu.Unlock()
		return
	}
	t.progress = Update{Text: text, Value: clamp(fraction, t.progress.Value)}
	t.appendLocked(slotProgress, progressEvent(t.id, p.r.cfg.now(), t.progress))
	gen, ok := t.claimLocked()
	t.mu.Unlock()
	if ok {
		p.r.startSender(t, gen)
	}
	p.r.announce(t)
}

// clamp returns v limited to [last, 1]; NaN yields last.
func clamp(v, last float64) float64 {
	if math.IsNaN(v) || v < last {
		return last
	}
	return min(v, 1)
}
