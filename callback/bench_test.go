package callback_test

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ssegate/ssegate/callback"
)

// discardWriter is a minimal http.ResponseWriter for benchmarks.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// benchHeaders are the headers a browser's EventSource request carries
// through the gateway.
var benchHeaders = map[string]any{
	"host": "app.example.com", "connection": "keep-alive", "accept": "text/event-stream",
	"cache-control": "no-cache", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	"accept-encoding": "gzip, deflate, br", "accept-language": "en-US,en;q=0.9",
	"cookie": "session=abc123; theme=dark", "referer": "https://app.example.com/tasks/7c9e6679",
	"sec-fetch-mode": "cors", "sec-fetch-site": "same-origin", "x-forwarded-for": "203.0.113.7",
	"x-many": []string{"a", "b"},
}

// minimalCallback is what a minimal hand-written callback handler decodes.
type minimalCallback struct {
	Action  string `json:"action"`
	Token   string `json:"token"`
	Reason  string `json:"reason"`
	Request struct {
		URL     string         `json:"url"`
		Headers map[string]any `json:"headers"`
	} `json:"request"`
}

// minimalHandler is the baseline: it checks the secret in constant time,
// reads the body with a cap, decodes it with encoding/json and answers {}.
// It does no validation, routing, telemetry or logging.
func minimalHandler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("secret")), []byte(secret)) != 1 {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
			return
		}
		var cb minimalCallback
		if err := json.Unmarshal(body, &cb); err != nil || cb.Token == "" {
			http.Error(w, `{"error":"invalid"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
	})
}

// BenchmarkCallback compares the callback handler, with a secret and two
// routes, on a connect callback with realistic headers against
// minimalHandler on the same request. ns/op is one callback.
func BenchmarkCallback(b *testing.B) {
	body := []byte(connectBody(b, "0b6f8e2c-5d7e-4c3b-9a1f-2e4d6c8b0a12", "/api/sse/tasks/7c9e6679-7425-40de-944b-e07fc1f90ae7", benchHeaders))
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodPost, callbackPath, nil)
		w := &discardWriter{h: http.Header{}}
		rd := bytes.NewReader(body)
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			rd.Reset(body)
			req.Body = io.NopCloser(rd)
			req.ContentLength = int64(len(body))
			clear(w.h)
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	}
	b.Run("handler", func(b *testing.B) {
		run(b, newHandler(b, callback.WithSecret(testSecret),
			callback.WithRoute(callback.Query("version", "/api/sse/utils/version", "request_id"), nopService{}),
			callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), nopService{})))
	})
	b.Run("minimal", func(b *testing.B) { run(b, minimalHandler(testSecret)) })
}
