package callback_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ssegate/ssegate/callback"
)

func TestSecret(t *testing.T) {
	body := func(t *testing.T) string { return connectBody(t, "tok", "/api/sse/tasks/1", nil) }
	tests := []struct {
		name       string
		opts       []callback.Option
		target     string
		header     http.Header
		wantStatus int
	}{
		{name: "missing", target: "/cb", wantStatus: 401},
		{name: "empty query value", target: "/cb?secret=", wantStatus: 401},
		{name: "wrong query", target: "/cb?secret=wrong", wantStatus: 401},
		{name: "prefix of the secret", target: "/cb?secret=" + testSecret[:len(testSecret)-1], wantStatus: 401},
		{name: "secret plus a byte", target: "/cb?secret=" + testSecret + "x", wantStatus: 401},
		{name: "different case", target: "/cb?secret=" + strings.ToUpper(testSecret), wantStatus: 401},
		{name: "wrong header", target: "/cb", header: http.Header{"X-Sse-Callback-Secret": {"wrong"}}, wantStatus: 401},
		{name: "right query", target: "/cb?secret=" + testSecret, wantStatus: 200},
		{name: "right query among other parameters", target: "/cb?a=1&secret=" + testSecret + "&b=2", wantStatus: 200},
		{name: "right header", target: "/cb", header: http.Header{"X-Sse-Callback-Secret": {testSecret}}, wantStatus: 200},
		{name: "wrong query, right header", target: "/cb?secret=wrong", header: http.Header{"X-Sse-Callback-Secret": {testSecret}}, wantStatus: 200},
		{name: "only the first query value counts", target: "/cb?secret=wrong&secret=" + testSecret, wantStatus: 401},
		{
			name:       "custom header",
			opts:       []callback.Option{callback.WithSecretHeader("X-Token")},
			target:     "/cb",
			header:     http.Header{"X-Token": {testSecret}},
			wantStatus: 200,
		},
		{
			name:       "custom header replaces the default one",
			opts:       []callback.Option{callback.WithSecretHeader("x-token")},
			target:     "/cb",
			header:     http.Header{"X-Sse-Callback-Secret": {testSecret}},
			wantStatus: 401,
		},
		{
			name:       "rotation: the second secret",
			opts:       []callback.Option{callback.WithSecret("next-secret")},
			target:     "/cb?secret=next-secret",
			wantStatus: 200,
		},
		{
			name:       "rotation: the first secret",
			opts:       []callback.Option{callback.WithSecret("next-secret")},
			target:     "/cb?secret=" + testSecret,
			wantStatus: 200,
		},
		{
			name:       "insecure option does not turn a secret off",
			opts:       []callback.Option{callback.WithInsecureNoAuth()},
			target:     "/cb",
			wantStatus: 401,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			opts := append([]callback.Option{
				callback.WithSecret(testSecret),
				callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc),
			}, tt.opts...)
			h := newHandler(t, opts...)
			got := serve(t, h, http.MethodPost, tt.target, tt.header, body(t))
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", got.Status, tt.wantStatus, got.Body)
			}
			wantCalls := 1
			if tt.wantStatus == 401 {
				wantCalls = 0
				if diff := diffJSON(t, `{"error":"unauthorized"}`, got.Body); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
			if n := len(svc.Calls()); n != wantCalls {
				t.Errorf("service calls = %d, want %d", n, wantCalls)
			}
		})
	}
}

// The secret is checked before the body is read: an unauthenticated caller
// learns nothing about the body's validity.
func TestSecretBeforeBody(t *testing.T) {
	h := newHandler(t, callback.WithSecret(testSecret))
	for _, body := range []string{"", "{", strings.Repeat("x", 2<<20)} {
		if got := serve(t, h, http.MethodPost, "/cb", nil, body); got.Status != 401 {
			t.Errorf("status for a %d-byte body = %d, want 401", len(body), got.Status)
		}
	}
}

func TestInsecureNoAuth(t *testing.T) {
	svc := &fakeService{}
	h := newHandler(t, callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
	got := serve(t, h, http.MethodPost, "/cb", nil, connectBody(t, "tok", "/api/sse/tasks/1", nil))
	if got.Status != 200 {
		t.Fatalf("status = %d, want 200 (%s)", got.Status, got.Body)
	}
	if n := len(svc.Calls()); n != 1 {
		t.Errorf("service calls = %d, want 1", n)
	}
}

func TestAuthenticator(t *testing.T) {
	bearer := callback.AuthenticatorFunc(func(r *http.Request) error {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			return nil
		case "Bearer banned":
			return callback.Reject(http.StatusForbidden, "banned")
		case "Bearer odd":
			return callback.Reject(http.StatusInternalServerError, "odd")
		}
		return errors.New("bad token")
	})
	tests := []struct {
		name       string
		withSecret bool
		target     string
		auth       string
		wantStatus int
		wantBody   string
	}{
		{name: "accepted", target: "/cb", auth: "Bearer good", wantStatus: 200, wantBody: `{}`},
		{name: "refused", target: "/cb", auth: "Bearer bad", wantStatus: 401, wantBody: `{"error":"unauthorized"}`},
		{name: "rejection status", target: "/cb", auth: "Bearer banned", wantStatus: 403, wantBody: `{"error":"banned"}`},
		{name: "non-4xx rejection is 401", target: "/cb", auth: "Bearer odd", wantStatus: 401, wantBody: `{"error":"unauthorized"}`},
		{name: "with secret: both pass", withSecret: true, target: callbackPath, auth: "Bearer good", wantStatus: 200, wantBody: `{}`},
		{name: "with secret: secret missing", withSecret: true, target: "/cb", auth: "Bearer good", wantStatus: 401, wantBody: `{"error":"unauthorized"}`},
		{name: "with secret: authenticator refuses", withSecret: true, target: callbackPath, auth: "Bearer bad", wantStatus: 401, wantBody: `{"error":"unauthorized"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []callback.Option{callback.WithAuthenticator(bearer), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), &fakeService{})}
			if tt.withSecret {
				opts = append(opts, callback.WithSecret(testSecret))
			}
			h := newHandler(t, opts...)
			got := serve(t, h, http.MethodPost, tt.target, http.Header{"Authorization": {tt.auth}}, connectBody(t, "tok", "/api/sse/tasks/1", nil))
			if diff := cmp.Diff(response{Status: tt.wantStatus, Body: tt.wantBody}, response{Status: got.Status, Body: got.Body}); diff != "" {
				t.Errorf("answer mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewHandlerErrors(t *testing.T) {
	svc := &fakeService{}
	tests := []struct {
		name    string
		opts    []callback.Option
		wantErr []string // substrings of the error; nil = no error
	}{
		{name: "no options", wantErr: []string{"no authentication configured"}},
		{name: "routes but no auth", opts: []callback.Option{callback.WithRoute(callback.Path("task", "/t/{id}"), svc)},
			wantErr: []string{"no authentication configured", "WithInsecureNoAuth"}},
		{name: "empty secret", opts: []callback.Option{callback.WithSecret("")},
			wantErr: []string{"WithSecret: empty secret", "no authentication configured"}},
		{name: "empty secret with insecure", opts: []callback.Option{callback.WithSecret(""), callback.WithInsecureNoAuth()},
			wantErr: []string{"WithSecret: empty secret"}},
		{name: "nil authenticator", opts: []callback.Option{callback.WithAuthenticator(nil), callback.WithInsecureNoAuth()},
			wantErr: []string{"nil authenticator"}},
		{name: "nil matcher", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(nil, svc)},
			wantErr: []string{"nil matcher"}},
		{name: "nil service", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Prefix("a", "/a/"), nil)},
			wantErr: []string{"nil service"}},
		{name: "invalid secret header", opts: []callback.Option{callback.WithSecret("s"), callback.WithSecretHeader("X Secret")},
			wantErr: []string{"invalid header name"}},
		{name: "path without slash", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "tasks/{id}"), svc)},
			wantErr: []string{"route 0", "must start with '/'"}},
		{name: "path without wildcard", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "/tasks"), svc)},
			wantErr: []string{"no wildcard"}},
		{name: "path with duplicate wildcard", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "/{id}/{id}"), svc)},
			wantErr: []string{"duplicate wildcard"}},
		{name: "path with partial wildcard", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "/t-{id}"), svc)},
			wantErr: []string{"whole segment"}},
		{name: "path with bad wildcard name", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "/t/{a-b}"), svc)},
			wantErr: []string{"invalid wildcard name"}},
		{name: "path with empty wildcard", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "/t/{}"), svc)},
			wantErr: []string{"invalid wildcard name"}},
		{name: "empty kind", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("", "/t/{id}"), svc)},
			wantErr: []string{"empty kind"}},
		{name: "kind with colon", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Query("a:b", "/t", "id"), svc)},
			wantErr: []string{"kind must not contain ':'"}},
		{name: "query without slash", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Query("t", "t", "id"), svc)},
			wantErr: []string{"must start with '/'"}},
		{name: "query path with query", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Query("t", "/t?id=", "id"), svc)},
			wantErr: []string{"must not contain '?'"}},
		{name: "query without param", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Query("t", "/t", ""), svc)},
			wantErr: []string{"empty parameter name"}},
		{name: "prefix without slash", opts: []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Prefix("d", "docs/"), svc)},
			wantErr: []string{"must start with '/'"}},
		{name: "second route reported", opts: []callback.Option{callback.WithInsecureNoAuth(),
			callback.WithRoute(callback.Prefix("d", "/docs/"), svc), callback.WithRoute(callback.Prefix("", "/x/"), svc)},
			wantErr: []string{"route 1", "empty kind"}},
		{name: "insecure", opts: []callback.Option{callback.WithInsecureNoAuth()}},
		{name: "secret without routes", opts: []callback.Option{callback.WithSecret("s")}},
		{name: "authenticator only", opts: []callback.Option{callback.WithAuthenticator(callback.AuthenticatorFunc(func(*http.Request) error { return nil }))}},
		{name: "nil options and defaults", opts: []callback.Option{nil, callback.WithSecret("s"), callback.WithLogger(nil),
			callback.WithMeterProvider(nil), callback.WithTracerProvider(nil), callback.WithSecretHeader(""), callback.WithMaxBodyBytes(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := callback.NewHandler(tt.opts...)
			if tt.wantErr == nil {
				if err != nil || h == nil {
					t.Fatalf("NewHandler = %v, %v; want a handler", h, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewHandler succeeded, want an error containing %q", tt.wantErr)
			}
			if h != nil {
				t.Errorf("NewHandler returned a handler with error %v", err)
			}
			if !errors.Is(err, callback.ErrInvalidConfig) {
				t.Errorf("NewHandler: %v, want an error wrapping ErrInvalidConfig", err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}
