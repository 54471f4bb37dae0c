package version

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// scope is the instrumentation scope name: the package import path.
const scope = "github.com/ssegate/ssegate/version"

// Metric attribute values. Attributes never carry request ids.
const (
	opNotify    = "notify"
	opBroadcast = "broadcast"

	dropLimit   = "limit"
	dropExpired = "expired"
	dropEvicted = "evicted"
	dropInvalid = "invalid"

	connectFlushed = "flushed"
	connectCurrent = "current"
	connectUnknown = "unknown"
	connectWaited  = "handed_off"
	connectResent  = "resent"
)

// instruments holds the notifier's OpenTelemetry instruments, created once,
// and the attribute sets they are recorded with, precomputed so that
// recording does not allocate.
type instruments struct {
	events   metric.Int64Counter       // outcome of each notified event, by op and status
	dropped  metric.Int64Counter       // pending events dropped, by reason
	pending  metric.Int64UpDownCounter // events pending right now
	connects metric.Int64Counter       // connects, by what was sent

	eventAttrs   map[string]map[Status]metric.AddOption
	dropAttrs    map[string]metric.AddOption
	connectAttrs map[string]metric.AddOption
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(scope)
	var ins instruments
	var err error
	if ins.events, err = m.Int64Counter("ssegate.version.events",
		metric.WithDescription("Version events notified or broadcast, by operation and delivery status."),
		metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if ins.dropped, err = m.Int64Counter("ssegate.version.pending.dropped",
		metric.WithDescription("Pending version events dropped before delivery, by reason."),
		metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if ins.pending, err = m.Int64UpDownCounter("ssegate.version.pending",
		metric.WithDescription("Version events pending for browsers that are not connected."),
		metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if ins.connects, err = m.Int64Counter("ssegate.version.connects",
		metric.WithDescription("Version streams connected, by what the connect sent first."),
		metric.WithUnit("{connect}")); err != nil {
		return nil, err
	}
	ins.eventAttrs = map[string]map[Status]metric.AddOption{}
	for _, op := range []string{opNotify, opBroadcast} {
		ins.eventAttrs[op] = map[Status]metric.AddOption{}
		for _, st := range []Status{Delivered, Pending, Dropped} {
			ins.eventAttrs[op][st] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("op", op), attribute.String("status", st.String())))
		}
	}
	ins.dropAttrs = map[string]metric.AddOption{}
	for _, r := range []string{dropLimit, dropExpired, dropEvicted, dropInvalid} {
		ins.dropAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	ins.connectAttrs = map[string]metric.AddOption{}
	for _, c := range []string{connectFlushed, connectCurrent, connectUnknown, connectWaited, connectResent} {
		ins.connectAttrs[c] = metric.WithAttributeSet(attribute.NewSet(attribute.String("sent", c)))
	}
	return &ins, nil
}

func (ins *instruments) event(op string, st Status) {
	if o, ok := ins.eventAttrs[op][st]; ok {
		ins.events.Add(context.Background(), 1, o)
	}
}

func (ins *instruments) drop(reason string, n int) {
	if o, ok := ins.dropAttrs[reason]; ok {
		ins.dropped.Add(context.Background(), int64(n), o)
	}
}

func (ins *instruments) connect(what string) {
	if o, ok := ins.connectAttrs[what]; ok {
		ins.connects.Add(context.Background(), 1, o)
	}
}
