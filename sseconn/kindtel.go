package sseconn

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// The operations of the "op" attribute and their span names.
const (
	opSend = iota
	opSendClose
	opClose
	opProbe
	opReplace
	opShutdown
	numOps
)

var (
	opNames   = [numOps]string{"send", "send_close", "close", "probe", "replace", "shutdown"}
	spanNames = [numOps]string{"sseconn.send", "sseconn.send_close", "sseconn.close", "sseconn.probe", "sseconn.replace", "sseconn.shutdown"}
)

// outcomes lists every outcome; kindTel indexes its options by position.
var outcomes = [...]string{
	outcomeOK, outcomeBuffered, outcomeNotConnected, outcomeGone, outcomeInvalid,
	outcomeGatewayError, outcomeTransport, outcomeCanceled, outcomeShutdown,
}

// outcomeIndex returns the position of outcome in outcomes.
func outcomeIndex(outcome string) int {
	switch outcome {
	case outcomeOK:
		return 0
	case outcomeBuffered:
		return 1
	case outcomeNotConnected:
		return 2
	case outcomeGone:
		return 3
	case outcomeInvalid:
		return 4
	case outcomeGatewayError:
		return 5
	case outcomeTransport:
		return 6
	case outcomeCanceled:
		return 7
	}
	return 8
}

// kindTel holds every attribute option of one identifier kind, built once
// so that a send looks its options up instead of building attribute sets.
type kindTel struct {
	span    []trace.SpanStartOption
	kind    []metric.AddOption // ssegate.connections.*: kind
	events  [numOps][len(outcomes)][]metric.AddOption
	latency [len(outcomes)][]metric.RecordOption
	removed map[string][]metric.AddOption // ssegate.connections.disconnects by reason
}

func newKindTel(kind string) *kindTel {
	k := attribute.String("kind", kind)
	kt := &kindTel{
		span: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("ssegate.kind", kind))},
		kind:    []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(k))},
		removed: make(map[string][]metric.AddOption),
	}
	for i, outcome := range outcomes {
		o := attribute.String("outcome", outcome)
		for op := range numOps {
			kt.events[op][i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
				k, attribute.String("op", opNames[op]), o))}
		}
		kt.latency[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(k, o))}
	}
	for _, reason := range []string{reasonUnregister, reasonGone, reasonSweep} {
		kt.removed[reason] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(k, attribute.String("reason", reason)))}
	}
	return kt
}

// maxKindTels caps the kinds whose options are kept. Kinds come from
// identifiers, so a program with unusually many kinds gets options built
// per call past it.
const maxKindTels = 256

// kindTels caches the kindTel of each kind.
type kindTels struct {
	m sync.Map // kind -> *kindTel
	n atomic.Int64
}

// get returns the options of kind.
func (c *kindTels) get(kind string) *kindTel {
	if v, ok := c.m.Load(kind); ok {
		return v.(*kindTel)
	}
	kt := newKindTel(kind)
	if c.n.Add(1) <= maxKindTels {
		if v, loaded := c.m.LoadOrStore(kind, kt); loaded {
			return v.(*kindTel)
		}
	}
	return kt
}
