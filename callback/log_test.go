package callback_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/callback"
)

// TestLogRedaction drives every kind of answer with credentials in every
// place they can travel, and searches the captured log for them.
func TestLogRedaction(t *testing.T) {
	const (
		cookie     = "session=COOKIEVALUE-7f3a"
		setCookie  = "id=SETCOOKIEVALUE-91"
		authz      = "Bearer AUTHZVALUE-c0ffee"
		wrong      = "WRONGSECRET-5150"
		queryToken = "QUERYTOKEN-abcd"
	)
	secrets := []string{testSecret, cookie, "COOKIEVALUE", "SETCOOKIEVALUE", "AUTHZVALUE", wrong, queryToken}

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var logs syncBuffer
			hopts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var lh slog.Handler = slog.NewTextHandler(&logs, hopts)
			if format == "json" {
				lh = slog.NewJSONHandler(&logs, hopts)
			}
			svc := &fakeService{
				connect: func(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
					switch req.Params["id"] {
					case "err":
						return nil, errors.New("service failed")
					case "panic":
						panic("service panicked")
					case "reject":
						return nil, callback.Reject(http.StatusForbidden, "not yours")
					}
					return nil, nil
				},
			}
			h := newHandler(t, callback.WithSecret(testSecret), callback.WithLogger(slog.New(lh)),
				callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
			headers := map[string]any{
				"cookie": cookie, "authorization": authz, "set-cookie": []string{setCookie, setCookie},
				"x-sse-callback-secret": testSecret,
			}
			// The gateway's own request headers may carry credentials too.
			reqHeader := http.Header{"Cookie": {cookie}, "Authorization": {authz}}
			secretHeader := http.Header{"X-Sse-Callback-Secret": {testSecret}, "Cookie": {cookie}}
			for _, r := range []struct {
				target string
				header http.Header
				body   string
				want   int
			}{
				{callbackPath, reqHeader, connectBody(t, "t1", "/api/sse/tasks/42?access_token="+queryToken, headers), 200},
				{"/cb", secretHeader, connectBody(t, "t2", "/api/sse/tasks/43", headers), 200},
				{callbackPath, reqHeader, connectBody(t, "t3", "/api/sse/tasks/err", headers), 500},
				{callbackPath, reqHeader, connectBody(t, "t4", "/api/sse/tasks/panic", headers), 500},
				{callbackPath, reqHeader, connectBody(t, "t5", "/api/sse/tasks/reject", headers), 403},
				{callbackPath, reqHeader, connectBody(t, "t6", "/nope?access_token="+queryToken, headers), 400},
				{callbackPath, reqHeader, connectBody(t, "t7", "/api/sse/tasks/a:b?access_token="+queryToken, headers), 400},
				{callbackPath, reqHeader, disconnectBody(t, "t1", "client_closed", "/api/sse/tasks/42"), 200},
				{"/cb?secret=" + wrong, reqHeader, connectBody(t, "t8", "/api/sse/tasks/1", headers), 401},
				{"/cb", http.Header{"X-Sse-Callback-Secret": {wrong}}, connectBody(t, "t9", "/api/sse/tasks/1", headers), 401},
				{callbackPath, reqHeader, `{"action":"connect","token":"t","request":{"url":"/x","headers":{"cookie":"` + cookie + `","n":1}}}`, 400},
				{callbackPath, reqHeader, `{"action":"connect","token":"` + cookie + "\x01" + `"}`, 400},
			} {
				if got := serve(t, h, http.MethodPost, r.target, r.header, r.body); got.Status != r.want {
					t.Errorf("status = %d, want %d (%s)", got.Status, r.want, got.Body)
				}
			}
			out := logs.String()
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("log contains %q:\n%s", s, out)
				}
			}
			// The log is not empty: it says what happened.
			for _, s := range []string{"task:42", "accepted", "service failed", "service panicked", "not yours", "unauthorized", "client_closed", "/api/sse/tasks/42"} {
				if !strings.Contains(out, s) {
					t.Errorf("log lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestNoLoggerIsSilent(t *testing.T) {
	// Without WithLogger nothing is logged: the default logger discards.
	// slog.SetDefault is global, so observe it through a handler that
	// would panic if the package used the default logger.
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	slog.SetDefault(slog.New(panicHandler{}))
	svc := &fakeService{connect: reject(errors.New("x"))}
	h := newHandler(t, callback.WithSecret(testSecret), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
	if got := post(t, h, connectBody(t, "t", "/api/sse/tasks/1", nil)); got.Status != 500 {
		t.Errorf("status = %d, want 500", got.Status)
	}
}

type panicHandler struct{}

func (panicHandler) Enabled(context.Context, slog.Level) bool { return true }
func (panicHandler) Handle(context.Context, slog.Record) error {
	panic("the default logger was used")
}
func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicHandler) WithGroup(string) slog.Handler      { return h }
