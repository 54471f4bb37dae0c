package version_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ssegate/ssegate/version"
)

// Event makes the version event that a tab stream carries; with package
// tab, hub.Send(ctx, tab.Broadcast(), ev) sends it to every tab.
func ExampleEvent() {
	ev, err := version.Event(version.Info{Version: "2.0.0", Changelog: "New editor"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Name, ev.Data)
	// Output:
	// version {"version":"2.0.0","changelog":"New editor"}
}

// Greeter gives every tab stream the current version when it connects
// (tab.WithGreeter); a failing Source yields the "unknown" version.
func ExampleGreeter() {
	greet := version.Greeter(version.Static{Version: "1.0.0"})
	evs, err := greet(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(evs[0].Name, evs[0].Data)
	// Output:
	// version {"version":"1.0.0"}
}
