package conntest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/sseconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// manager is the part of *sseconn.Manager that the fake stands in for.
type manager interface {
	Register(ctx context.Context, identifier, token string) error
	Unregister(token string) bool
	Send(ctx context.Context, identifier string, ev sseconn.Event) error
	SendAndClose(ctx context.Context, identifier string, ev sseconn.Event) error
	Broadcast(ctx context.Context, filter func(identifier string) bool, ev sseconn.Event) []sseconn.Result
}

var (
	_ manager = (*Conn)(nil)
	_ manager = (*sseconn.Manager)(nil)
)

// outcome names err by the sentinel it matches.
func outcome(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{sseconn.ErrNotConnected, "not connected"},
		{sseconn.ErrInvalidIdentifier, "invalid identifier"},
		{sseconn.ErrTokenInUse, "token in use"},
		{sseconn.ErrInvalidEvent, "invalid event"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "ok"
}

// script runs the same calls on m and reports what each returned.
func script(ctx context.Context, m manager) []string {
	ev := sseconn.Event{Name: "e", Data: "{}"}
	var out []string
	add := func(s string) { out = append(out, s) }
	add("register a t1: " + outcome(m.Register(ctx, "kind:a", "t1")))
	add("register a t1 again: " + outcome(m.Register(ctx, "kind:a", "t1")))
	add("register a t2: " + outcome(m.Register(ctx, "kind:a", "t2")))
	add("register b t2: " + outcome(m.Register(ctx, "kind:b", "t2")))
	add("register empty: " + outcome(m.Register(ctx, "kind:c", "")))
	if m.Unregister("t1") {
		add("unregister stale t1: removed")
	} else {
		add("unregister stale t1: kept")
	}
	add("send a: " + outcome(m.Send(ctx, "kind:a", ev)))
	add("send invalid: " + outcome(m.Send(ctx, "kind:a", sseconn.Event{Name: "e", Data: "not JSON"})))
	add("send c: " + outcome(m.Send(ctx, "kind:c", ev)))
	add("register b t3: " + outcome(m.Register(ctx, "kind:b", "t3")))
	for _, r := range m.Broadcast(ctx, nil, ev) {
		add("broadcast " + r.Identifier + ": " + outcome(r.Err))
	}
	add("send and close a: " + outcome(m.SendAndClose(ctx, "kind:a", ev)))
	add("send a after close: " + outcome(m.Send(ctx, "kind:a", ev)))
	if m.Unregister("t3") {
		add("unregister t3: removed")
	} else {
		add("unregister t3: kept")
	}
	add("send b: " + outcome(m.Send(ctx, "kind:b", ev)))
	return out
}

// TestSameAsManager runs one script on the fake and on a real manager in
// front of a gateway that accepts every send: both must answer alike.
func TestSameAsManager(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(gw.Close)
	m, err := sseconn.New(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })

	want := script(t.Context(), m)
	got := script(t.Context(), New())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fake vs manager (-manager +fake):\n%s", diff)
	}
}

// TestRecords checks what the fake records, by token and by identifier.
func TestRecords(t *testing.T) {
	c := New()
	ctx := t.Context()
	ev := func(d string) sseconn.Event { return sseconn.Event{Name: "e", Data: d} }
	for _, err := range []error{
		c.Register(ctx, "kind:a", "t1"),
		c.Send(ctx, "kind:a", ev("1")),
		c.Register(ctx, "kind:a", "t2"),
		c.SendAndClose(ctx, "kind:a", ev("2")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]Sent{{Token: "t2", Event: ev("2"), Close: true}}, c.WaitClosed(t, "t2")); diff != "" {
		t.Errorf("ToToken(t2) (-want +got):\n%s", diff)
	}
	want := []Sent{{Token: "t1", Event: ev("1")}, {Token: "t2", Event: ev("2"), Close: true}}
	if diff := cmp.Diff(want, c.ToIdentifier("kind:a")); diff != "" {
		t.Errorf("ToIdentifier(kind:a) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"t1", "t2"}, c.Registered()); diff != "" {
		t.Errorf("Registered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"kind:a"}, c.Identifiers()); diff != "" {
		t.Errorf("Identifiers after the close, before Unregister (-want +got):\n%s", diff)
	}
}
