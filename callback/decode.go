package callback

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/ssegate/ssegate/internal/wire"
)

// problem is a client error: the status, the message of the JSON error body
// and its optional details.
type problem struct {
	status  int
	outcome string
	message string
	details map[string]string
}

func (p *problem) Error() string { return "callback: " + p.message }

func invalid(message string, details map[string]string) *problem {
	return &problem{status: http.StatusBadRequest, outcome: outcomeInvalid, message: message, details: details}
}

// tooLarge is the problem of a body over the limit.
func tooLarge() *problem {
	return &problem{
		status:  http.StatusRequestEntityTooLarge,
		outcome: outcomeTooLarge,
		message: "request body too large",
	}
}

// readBody reads the request body up to limit bytes into buf and returns
// buf's bytes. A larger body is a 413 problem, answered from its
// Content-Length before anything is read when it announces one; a failed
// read (a read deadline, say) is a 400 problem.
//
// A body of known length (net/http's server never reads past it) is read
// directly; one of unknown length goes through http.MaxBytesReader, which
// also makes the server close the connection once the limit is passed.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf *bytes.Buffer) ([]byte, *problem) {
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var err error
	if r.ContentLength >= 0 {
		buf.Grow(int(r.ContentLength) + 1)
		// One byte more than the limit tells a body longer than announced.
		_, err = buf.ReadFrom(io.LimitReader(r.Body, limit+1))
		if err == nil && int64(buf.Len()) > limit {
			return nil, tooLarge()
		}
	} else {
		_, err = buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge()
	case err != nil && !errors.Is(err, io.EOF):
		return nil, invalid("cannot read request body", nil)
	}
	return buf.Bytes(), nil
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 64 << 10

// bodyBufs recycles the buffers bodies are read into. decode copies what it
// keeps, so a buffer is free again once decode returns.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decode parses and validates a callback body. It never panics; every
// failure is a 400 problem whose details name the field.
func decode(body []byte) (*Request, *problem) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("missing request body", nil)
	}
	cb, ok := fastDecode(body)
	if !ok {
		var p *problem
		if cb, p = slowDecode(body); p != nil {
			return nil, p
		}
	}
	switch cb.action {
	case wire.ActionConnect, wire.ActionDisconnect:
	case "":
		return nil, invalid("missing action", map[string]string{"field": "action", "reason": "is missing"})
	default:
		return nil, invalid("unknown action", map[string]string{"field": "action", "reason": `must be "connect" or "disconnect"`})
	}
	if cb.token == "" {
		return nil, invalid("missing token", map[string]string{"field": "token", "reason": "is missing or empty"})
	}
	if cb.url == "" {
		return nil, invalid("missing request.url", map[string]string{"field": "request.url", "reason": "is missing or empty"})
	}
	u, err := url.ParseRequestURI(cb.url)
	if err != nil {
		return nil, invalid("invalid request.url", map[string]string{"field": "request.url", "reason": "is not a valid request URI"})
	}
	req := &Request{
		Action: cb.action,
		Token:  cb.token,
		URL:    u,
		Header: cb.header,
	}
	if cb.action == wire.ActionDisconnect {
		req.Reason = cb.reason
	}
	return req, nil
}

// slowDecode decodes any callback body with encoding/json, the reference
// for fastDecode.
func slowDecode(body []byte) (callbackFields, *problem) {
	var cb wire.Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return callbackFields{}, invalid("invalid JSON", jsonDetails(err))
	}
	return callbackFields{
		action: cb.Action,
		token:  cb.Token,
		reason: cb.Reason,
		url:    cb.Request.URL,
		header: httpHeader(cb.Request.Headers),
	}, nil
}

// jsonDetails describes a JSON error without quoting the body, which may
// carry cookies.
func jsonDetails(err error) map[string]string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return map[string]string{"reason": "syntax error"}
	case errors.As(err, &te):
		d := map[string]string{"reason": "wrong type: " + te.Value}
		if te.Field != "" {
			d["field"] = te.Field
		}
		return d
	case errors.Is(err, io.ErrUnexpectedEOF):
		return map[string]string{"reason": "unexpected end of input"}
	}
	// wire.HeaderValue reports a header that is neither a string nor an
	// array of strings.
	return map[string]string{"field": "request.headers", "reason": "values must be strings or arrays of strings"}
}

// httpHeader converts the forwarded headers to an http.Header with canonical
// names, leaving out headers without values (JSON null or []). Names that
// differ only in case (the gateway lower-cases them, so only in hand-made
// bodies) are merged in the order of the sorted original names, so that the
// result does not depend on map iteration order.
func httpHeader(hs wire.Headers) http.Header {
	out := make(http.Header, len(hs))
	for _, k := range slices.Sorted(maps.Keys(hs)) {
		v := hs[k]
		if len(v) == 0 {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], v...)
	}
	return out
}
