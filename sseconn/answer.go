package sseconn

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/ssegate/ssegate/internal/wire"
)

// maxAnswerBytes caps how much of the gateway's answer is read.
const maxAnswerBytes = 64 << 10

// answerBufSize is the size of the pooled buffer an answer is read into
// first. Every answer of the gateway fits; a longer one is read further.
const answerBufSize = 512

// answerBufs recycles the buffers answers are read into.
var answerBufs = sync.Pool{New: func() any { return new([answerBufSize]byte) }}

// readAnswer reads and closes the gateway's answer and classifies it. It
// reads to the end of the body (at most maxAnswerBytes) so that the
// keep-alive connection is reused.
func readAnswer(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	buf := answerBufs.Get().(*[answerBufSize]byte)
	defer answerBufs.Put(buf)
	n, eof, err := readUpTo(resp.Body, buf[:])
	if err != nil {
		return "", fmt.Errorf("read answer (status %d): %w", resp.StatusCode, err)
	}
	if eof {
		if resp.StatusCode == http.StatusOK {
			if status, ok := fastStatus(buf[:n], resp.Header); ok {
				return status, nil // the common answers, without parsing
			}
		}
		return classify(resp, buf[:n])
	}
	answer := append(make([]byte, 0, 2*answerBufSize), buf[:n]...)
	rest := bytes.NewBuffer(answer)
	_, err = rest.ReadFrom(io.LimitReader(resp.Body, maxAnswerBytes-int64(n)))
	// Drain a little more so that the keep-alive connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return "", fmt.Errorf("read answer (status %d): %w", resp.StatusCode, err)
	}
	return classify(resp, rest.Bytes())
}

// readUpTo reads r into buf until EOF or until buf is full. It reports how
// many bytes it read and whether it reached EOF.
func readUpTo(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// fastStatus recognises a 200 answer {"status":"<word>"}, exactly so, with
// word made of lower-case letters and underscores: the gateway's
// {"status":"ok"} and {"status":"buffered"}, and any such status of a later
// gateway (such as "sent"). Anything else goes to classify. The status of an
// answer that is not application/json is "ok" whatever it says, as classify
// decides too.
func fastStatus(b []byte, h http.Header) (string, bool) {
	const prefix, suffix = `{"status":"`, `"}`
	if len(b) <= len(prefix)+len(suffix) || string(b[:len(prefix)]) != prefix || string(b[len(b)-len(suffix):]) != suffix {
		return "", false
	}
	word := b[len(prefix) : len(b)-len(suffix)]
	if string(word) == wire.StatusOK {
		return wire.StatusOK, true
	}
	for _, c := range word {
		if (c < 'a' || c > 'z') && c != '_' {
			return "", false
		}
	}
	if !isJSONType(h) {
		return "", false
	}
	if string(word) == wire.StatusBuffered {
		return wire.StatusBuffered, true
	}
	return string(word), true
}

// isJSONType reports whether h's Content-Type is application/json in the
// forms the gateway sends ("application/json; charset=utf-8"). Other
// spellings are left to classify's mime.ParseMediaType.
func isJSONType(h http.Header) bool {
	v := h["Content-Type"]
	if len(v) == 0 {
		return false
	}
	return v[0] == "application/json" || strings.HasPrefix(v[0], "application/json;")
}
