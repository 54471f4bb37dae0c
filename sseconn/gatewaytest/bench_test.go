package gatewaytest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/ssegate/ssegate/internal/wire"
)

// BenchmarkSend measures one POST /internal/send written to an open stream,
// from a keep-alive client.
func BenchmarkSend(b *testing.B) {
	be := newBackend(b, nil)
	gw := newGateway(b, be.callbackURL())
	st, err := gw.Connect(context.Background(), "/bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	go func() { // the browser keeps reading
		for {
			if _, err := st.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	body := []byte(`{"token":"` + st.Token() + `","event":{"name":"task_event","data":"{\"progress\":0.5}"}}`)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := gw.URL + wire.SendPath
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
