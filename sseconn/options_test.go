package sseconn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNewOptionDefaults checks that zero and nil options mean the defaults.
func TestNewOptionDefaults(t *testing.T) {
	type resolved struct {
		Timeout     time.Duration
		Retry       RetryPolicy
		MaxBody     int
		SweepEvery  time.Duration
		Concurrency int
		DoerSet     bool
		LoggerSet   bool
	}
	defaults := resolved{DefaultSendTimeout, DefaultRetryPolicy, DefaultMaxBodyBytes, 0, DefaultBroadcastConcurrency, false, true}
	tests := []struct {
		name string
		opts []Option
		want resolved
	}{
		{"none", nil, defaults},
		{"zero and nil", []Option{
			WithSendTimeout(0), WithRetryPolicy(RetryPolicy{}), WithMaxBodyBytes(0), WithSweepInterval(0),
			WithBroadcastConcurrency(0), WithDoer(nil), WithLogger(nil), WithMeterProvider(nil), WithTracerProvider(nil), nil,
		}, defaults},
		{"set", []Option{
			WithSendTimeout(time.Second), WithRetryPolicy(RetryPolicy{MaxAttempts: 1}), WithMaxBodyBytes(10),
			WithBroadcastConcurrency(3),
		}, resolved{time.Second, RetryPolicy{1, DefaultRetryPolicy.MinBackoff, DefaultRetryPolicy.MaxBackoff}, 10, 0, 3, false, true}},
		{"retry backoff above the default max", []Option{WithRetryPolicy(RetryPolicy{MinBackoff: time.Second})},
			resolved{DefaultSendTimeout, RetryPolicy{3, time.Second, time.Second}, DefaultMaxBodyBytes, 0, DefaultBroadcastConcurrency, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, "http://127.0.0.1:1", tt.opts...)
			c := m.cfg
			got := resolved{c.timeout, c.retry, c.maxBody, c.sweepEvery, c.concurrency, c.doer != nil, c.logger != nil}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolved options (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewInvalidConfig checks that New refuses every misconfiguration with
// one error that wraps ErrInvalidConfig and names each problem.
func TestNewInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []Option
		want []string // the lines of the error
	}{
		{"url", "ftp://x", nil, []string{
			`sseconn: invalid configuration: gateway URL "ftp://x" is not an absolute http(s) URL`}},
		{"send timeout", "", []Option{WithSendTimeout(-time.Second)}, []string{
			"sseconn: invalid configuration: WithSendTimeout: negative value -1s"}},
		{"max body", "", []Option{WithMaxBodyBytes(-1)}, []string{
			"sseconn: invalid configuration: WithMaxBodyBytes: negative value -1"}},
		{"sweep interval", "", []Option{WithSweepInterval(-time.Minute)}, []string{
			"sseconn: invalid configuration: WithSweepInterval: negative value -1m0s"}},
		{"broadcast concurrency", "", []Option{WithBroadcastConcurrency(-8)}, []string{
			"sseconn: invalid configuration: WithBroadcastConcurrency: negative value -8"}},
		{"retry attempts", "", []Option{WithRetryPolicy(RetryPolicy{MaxAttempts: -1})}, []string{
			"sseconn: invalid configuration: WithRetryPolicy: negative MaxAttempts -1"}},
		{"retry backoffs", "", []Option{WithRetryPolicy(RetryPolicy{MinBackoff: -1, MaxBackoff: -2})}, []string{
			"sseconn: invalid configuration: WithRetryPolicy: negative MinBackoff -1ns",
			"sseconn: invalid configuration: WithRetryPolicy: negative MaxBackoff -2ns"}},
		{"retry max below min", "", []Option{WithRetryPolicy(RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond})}, []string{
			"sseconn: invalid configuration: WithRetryPolicy: MaxBackoff 1ms below MinBackoff 1s"}},
		{"several at once", "http://", []Option{WithSendTimeout(-1), WithMaxBodyBytes(-2), WithBroadcastConcurrency(-3)}, []string{
			`sseconn: invalid configuration: gateway URL "http://" is not an absolute http(s) URL`,
			"sseconn: invalid configuration: WithSendTimeout: negative value -1ns",
			"sseconn: invalid configuration: WithMaxBodyBytes: negative value -2",
			"sseconn: invalid configuration: WithBroadcastConcurrency: negative value -3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.url == "" {
				tt.url = "http://127.0.0.1:1"
			}
			m, err := New(tt.url, tt.opts...)
			if err == nil {
				m.Shutdown(t.Context())
				t.Fatal("New succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New: %v, want an error wrapping ErrInvalidConfig", err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewDoerInvalidPolicy checks that NewDoer refuses what New refuses.
func TestNewDoerInvalidPolicy(t *testing.T) {
	c, err := NewDoer(RetryPolicy{MaxAttempts: -1}, nil)
	if !errors.Is(err, ErrInvalidConfig) || c != nil {
		t.Fatalf("NewDoer = %v, %v; want nil and an error wrapping ErrInvalidConfig", c, err)
	}
	want := "sseconn: invalid configuration: RetryPolicy: negative MaxAttempts -1"
	if err.Error() != want {
		t.Errorf("NewDoer error = %q, want %q", err, want)
	}
}
