package realgw_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
)

// TestRealGatewayCallback checks the callback handler behind CALLBACK_URL:
// the browser sees a stream for the right secret, and the rejection of its
// gateway generation for a wrong or missing secret, an unknown route and a
// service's 403.
func TestRealGatewayCallback(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		wrong, none := "?secret=wrong", ""
		tests := []struct {
			name  string
			query *string // CALLBACK_URL's query; nil means the right secret
			path  string
			want  transcript
		}{
			{"right_secret", nil, usersPath + "1", transcript{Status: 200, Events: ready(gen)}},
			{"wrong_secret", &wrong, usersPath + "1", rejection(gen, 401)},
			{"missing_secret", &none, usersPath + "1", rejection(gen, 401)},
			{"unknown_route", nil, "/api/sse/nowhere", rejection(gen, 400)},
			{"service_forbids", nil, usersPath + "forbidden", rejection(gen, 403)},
		}
		right := newBackend(t, dir, gen, backendConfig{})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := right
				if tt.query != nil {
					b = newBackend(t, dir, gen, backendConfig{callbackQuery: tt.query})
				}
				st := openAny(t, b.gw.URL+tt.path)
				if tt.query == nil && tt.path == usersPath+"1" {
					// An accepted stream stays open: read what it shows
					// first, then end it.
					got := transcript{Status: st.StatusCode, Events: next(t, st, len(tt.want.Events))}
					if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
						t.Fatalf("browser (-want +got):\n%s", diff)
					}
					if !b.mgr.Connected("user:1") {
						t.Fatal("accepted stream not registered")
					}
					return
				}
				if diff := cmp.Diff(tt.want, record(t, st), cmpEmpty); diff != "" {
					t.Fatalf("browser (-want +got):\n%s", diff)
				}
				if b != right && b.mgr.Len() != 0 || b.mgr.Connected("user:forbidden") {
					t.Fatalf("mappings after a refused connect: %v", b.mgr.Identifiers(nil))
				}
			})
		}
	})
}
