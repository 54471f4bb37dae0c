package tab

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ssegate/ssegate/internal/telemetry"
)

// scope is the instrumentation scope name: the package import path.
const scope = "github.com/ssegate/ssegate/tab"

// Reasons of ssegate.tab.dropped.
const (
	reasonLimit   = "limit"   // pushed out by the pending limit
	reasonExpired = "expired" // the tab was not connected for the TTL
	reasonEvicted = "evicted" // the tab was forgotten for a new one (WithMaxTabs)
	reasonFull    = "full"    // no room for a new tab
	reasonInvalid = "invalid" // the gateway refused the event as invalid or too large
)

// instruments holds the hub's OpenTelemetry instruments.
type instruments struct {
	dropped   metric.Int64Counter
	connects  metric.Int64Counter
	dropAttrs map[string]metric.AddOption
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	s := telemetry.New(scope, mp, nil)
	ins := &instruments{
		dropped: s.Counter("ssegate.tab.dropped",
			"Events dropped before they reached a tab, by reason.", "{event}"),
		connects:  s.Counter("ssegate.tab.connects", "Tab streams connected.", "{connect}"),
		dropAttrs: make(map[string]metric.AddOption, len(reasonsArr)),
	}
	for _, r := range reasonsArr {
		ins.dropAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return ins, nil
}

func (ins *instruments) connect(ctx context.Context) { ins.connects.Add(ctx, 1) }

// dropLog collects drops made under the hub's lock, to count and log them
// once it is released.
type dropLog struct {
	n [len(reasonsArr)]int
}

// reasonsArr fixes the order of dropLog's counters.
var reasonsArr = [...]string{reasonLimit, reasonExpired, reasonEvicted, reasonFull, reasonInvalid}

func (d *dropLog) add(reason string, n int) {
	if n <= 0 {
		return
	}
	for i, r := range reasonsArr {
		if r == reason {
			d.n[i] += n
			return
		}
	}
}

func (d *dropLog) empty() bool { return d.n == [len(reasonsArr)]int{} }

// record counts the drops in ssegate.tab.dropped and logs them.
func (d *dropLog) record(ctx context.Context, h *Hub) {
	for i, n := range d.n {
		if n == 0 {
			continue
		}
		r := reasonsArr[i]
		h.ins.dropped.Add(ctx, int64(n), h.ins.dropAttrs[r])
		h.log.Warn("tab: events dropped", "reason", r, "events", n)
	}
}
