package tab

import "errors"

var (
	// ErrInvalidConfig is wrapped by the error of [New] for a nil Conn or
	// an invalid option.
	ErrInvalidConfig = errors.New("tab: invalid configuration")

	// ErrInvalidAudience is returned by [Hub.Send] for an audience that is
	// not one of [To], [ToSubject] or [Broadcast], or whose request id or
	// subject is invalid (see [ErrInvalidRequestID]).
	ErrInvalidAudience = errors.New("tab: invalid audience")

	// ErrInvalidRequestID is wrapped for a request id that is empty,
	// longer than 256 bytes, or contains ':' or a control character, and
	// for a subject longer than 1024 bytes. A browser that connects with
	// such a request id is refused with 400.
	ErrInvalidRequestID = errors.New("tab: invalid request id")

	// ErrDropped is wrapped by the error of [Hub.Send] when the event was
	// not kept for a tab: the hub already keeps the maximum number of tabs
	// (see [WithMaxTabs]) and the tab is not one of them. Every dropped
	// event, this one or an older one pushed out by the pending limit, is
	// also counted in the metric ssegate.tab.dropped and logged.
	ErrDropped = errors.New("tab: event dropped")

	// ErrClosed is returned by [Hub.Send] after [Hub.Close].
	ErrClosed = errors.New("tab: hub closed")
)
