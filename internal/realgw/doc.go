// Package realgw runs the reference gateway, the Node.js service whose
// protocol docs/protocol.md describes, as a subprocess for integration tests,
// and reads its streams the way a browser's EventSource does.
//
// The built gateways come from the environment: SSEGATE_REFERENCE_GATEWAY_1
// and SSEGATE_REFERENCE_GATEWAY_2 each name a folder holding dist/index.js
// (see [testenv.Gateway1] and [testenv.Gateway2]; .ci/run builds both).
// Without them the tests that need a gateway are skipped with a message that
// says how to build one, and they fail instead under CI=true or
// SSEGATE_REQUIRE_GATEWAY=1.
//
// A test asks for each generation with [Each], starts a gateway with [Start]
// and opens streams on it with [Open]:
//
//	realgw.Each(t, func(t *testing.T, dir string, gen int) {
//		gw := realgw.Start(t, dir, realgw.Config{CallbackURL: backend.URL + "/cb?secret=s"})
//		st, err := realgw.Open(ctx, gw.URL+"/api/sse/tasks/42")
//		...
//	})
//
// # Concurrency
//
// A Gateway's methods are safe for concurrent use, except that Restart and
// Stop must not run concurrently with each other. A Stream is read by one
// goroutine at a time; its Close may be called from any goroutine.
//
// # Errors
//
// Start, Restart and Stop fail the test (t.Fatal) with the gateway's log when
// the gateway does not come up or exit. Open returns an error only for a
// transport failure: a gateway's refusal is a Stream with its status and body.
package realgw
