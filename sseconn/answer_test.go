package sseconn

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadAnswer(t *testing.T) {
	long := `{"status":"ok","padding":"` + strings.Repeat("x", 2*answerBufSize) + `"}`
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        string
		wantErr     string
	}{
		{"ok", 200, "application/json; charset=utf-8", `{"status":"ok"}`, "ok", ""},
		{"ok without JSON type", 200, "text/plain", `{"status":"ok"}`, "ok", ""},
		{"buffered", 200, "application/json; charset=utf-8", `{"status":"buffered"}`, "buffered", ""},
		{"sent", 200, "application/json", `{"status":"sent"}`, "sent", ""},
		{"buffered without JSON type", 200, "text/plain", `{"status":"buffered"}`, "ok", ""},
		{"odd JSON type", 200, "Application/JSON", `{"status":"buffered"}`, "buffered", ""},
		{"spaced", 200, "application/json", `{ "status": "buffered" }`, "buffered", ""},
		{"escaped", 200, "application/json", `{"status":"bu\u0066fered"}`, "buffered", ""},
		{"empty", 200, "application/json", ``, "ok", ""},
		{"long", 200, "application/json", long, "ok", ""},
		{"gone", 404, "application/json", `{"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}}`, "", "sseconn: connection gone"},
		{"long error", 500, "text/html", "<p>" + strings.Repeat("y", 2*answerBufSize), "", "sseconn: gateway answered 500: Internal Server Error (HTML body)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &answerBody{Reader: strings.NewReader(tt.body)}
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{"Content-Type": {tt.contentType}}, Body: body}
			got, err := readAnswer(resp)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff([2]string{tt.want, tt.wantErr}, [2]string{got, gotErr}); diff != "" {
				t.Errorf("status, error (-want +got):\n%s", diff)
			}
			if !body.closed {
				t.Error("body not closed")
			}
			if n, _ := body.Read(make([]byte, 1)); n != 0 {
				t.Error("body not read to the end")
			}
		})
	}
}

func TestReadAnswerError(t *testing.T) {
	boom := errors.New("boom")
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: &answerBody{Reader: io.MultiReader(strings.NewReader(`{"sta`), errReader{boom})}}
	if _, err := readAnswer(resp); !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v wrapped", err, boom)
	}
}

type answerBody struct {
	io.Reader
	closed bool
}

func (c *answerBody) Close() error { c.closed = true; return nil }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
