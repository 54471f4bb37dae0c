package version

import (
	"context"
	"fmt"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
)

// Event returns the version event of info, as the Notifier sends it: name
// [EventName], data the JSON of info. It fails with an error wrapping
// [ErrInvalidInfo] for an info without a version or over the gateway's
// body limit.
//
// With one stream per tab (package tab), a new version reaches every tab
// with hub.Send(ctx, tab.Broadcast(), ev).
func Event(info Info) (sseconn.Event, error) { return event(info) }

// Greeter returns a tab.Greeter that sends src's current version to every
// tab stream when it connects, before the events kept for the tab: mount
// it with tab.WithGreeter. A failing Source yields the event
// {"version":"unknown","error":"<reason>"}, as [Notifier.Connect] sends it.
// A nil src makes the greeter fail on every connect (logged by the hub).
func Greeter(src Source) tab.Greeter {
	return func(ctx context.Context) ([]sseconn.Event, error) {
		if src == nil {
			return nil, fmt.Errorf("%w: nil Source", ErrInvalidConfig)
		}
		info, err := currentOf(ctx, src)
		var ev sseconn.Event
		if err == nil {
			ev, err = event(info)
		}
		if err != nil {
			ev = sseconn.Event{Name: EventName, Data: encodeUnknown(reason(err))}
		}
		return []sseconn.Event{ev}, nil
	}
}

// currentOf asks src for the current version, turning a panic into an
// error.
func currentOf(ctx context.Context, src Source) (info Info, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = Info{}, fmt.Errorf("version: source panicked: %v", r)
		}
	}()
	return src.Current(ctx)
}
