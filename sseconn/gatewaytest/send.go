package gatewaytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/ssegate/ssegate/internal/wire"
)

// SendRequest is the body of one well-formed POST /internal/send, as
// [Server.Sends] records it.
type SendRequest struct {
	// Token is the token of the stream the request is for.
	Token string
	// Event is the event to write, as the backend sent it; nil for a
	// request without one (a close, or the no-op that tells whether Token
	// is alive).
	Event *Event
	// Close reports whether the request ends the stream, after writing
	// Event if there is one.
	Close bool
}

// serveSend handles POST /internal/send (PROTOCOL.md section 3).
func (s *Server) serveSend(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.sendAttempts++
	fail, status := s.failSends > 0, s.failStatus
	if fail {
		s.failSends--
	}
	delay := s.sendDelay
	s.mu.Unlock()

	if fail {
		// A proxy in front of the gateway answers; the gateway never sees
		// the request.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.cfg.maxBodyBytes))
		s.log.Info("gatewaytest: send failed by FailNextSends", "status", status)
		writeProxyError(w, status)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.log.Info("gatewaytest: send body too large", "limit", s.cfg.maxBodyBytes)
			writeHTML(w, http.StatusRequestEntityTooLarge, "Payload Too Large")
			return
		}
		writeHTML(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		// express.json() leaves a body of another type unparsed, so the
		// gateway sees no token.
		body = nil
	}

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "gateway is shutting down")
			return
		}
	}

	s.sendMu.Lock()
	defer s.sendMu.Unlock()

	req, code, msg := parseSend(body)
	switch code {
	case "":
	case codeSyntax:
		s.log.Info("gatewaytest: send body is not JSON")
		writeHTML(w, http.StatusBadRequest, "Bad Request")
		return
	default:
		s.log.Info("gatewaytest: invalid send", "code", code)
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	s.mu.Lock()
	s.sends = append(s.sends, req)
	s.mu.Unlock()

	log := s.log.With("token", req.Token)
	c := s.lookup(req.Token)
	if c == nil {
		log.Info("gatewaytest: send to unknown token")
		writeError(w, http.StatusNotFound, wire.CodeTokenNotFound, "Token not found")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateConnecting:
		if !c.closePending {
			if req.Event != nil {
				c.buf = append(c.buf, *req.Event)
			}
			c.closePending = req.Close
		}
		log.Debug("gatewaytest: send buffered", "event", eventName(req.Event), "close", req.Close)
		writeJSON(w, http.StatusOK, wire.SendResponse{Status: wire.StatusBuffered})
	case stateOpen:
		if req.Event != nil {
			if err := c.writeLocked(appendFrame(nil, s.cfg.generation, *req.Event)); err != nil {
				log.Info("gatewaytest: write failed", "err", err)
				s.endLocked(c, wire.ReasonError, true)
				writeError(w, http.StatusInternalServerError, wire.CodeWriteFailed, "Failed to write to stream")
				return
			}
		}
		if req.Close {
			s.endLocked(c, wire.ReasonServerClosed, true)
		}
		log.Debug("gatewaytest: send", "event", eventName(req.Event), "close", req.Close)
		writeJSON(w, http.StatusOK, wire.SendResponse{Status: wire.StatusOK})
	default:
		log.Info("gatewaytest: send to ended token")
		writeError(w, http.StatusNotFound, wire.CodeTokenNotFound, "Token not found")
	}
}

// eventName is ev's name for logs.
func eventName(ev *Event) string {
	if ev == nil {
		return ""
	}
	return ev.Name
}

// isJSONContentType reports whether ct is application/json, the only type
// express.json() parses.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// codeSyntax is parseSend's code for a body that is not JSON (answered 400
// with an HTML body, not a JSON code).
const codeSyntax = "syntax"

// parseSend decodes and validates a send body like the reference gateway:
// express.json() in strict mode (an empty body is {}, only an object or an
// array is accepted) and then checks of the raw JSON types. It returns the
// request, or an error code (codeSyntax or a wire.Code*) and message.
func parseSend(body []byte) (req SendRequest, code, msg string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if (body[0] != '{' && body[0] != '[') || !json.Valid(body) {
		return req, codeSyntax, ""
	}
	var fields map[string]json.RawMessage
	if body[0] == '{' {
		if err := json.Unmarshal(body, &fields); err != nil {
			return req, codeSyntax, ""
		}
	}
	if err := unmarshalString(fields["token"], &req.Token); err != nil || req.Token == "" {
		return req, wire.CodeTokenMissing, "token is required and must be a non-empty string"
	}
	if raw := fields["event"]; !isAbsent(raw) {
		if raw[0] != '{' {
			return req, wire.CodeEventType, "event must be an object"
		}
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ev); err != nil {
			return req, wire.CodeEventType, "event must be an object"
		}
		req.Event = &Event{}
		if err := unmarshalString(ev["data"], &req.Event.Data); err != nil {
			return req, wire.CodeEventDataMissing, "event.data is required and must be a string"
		}
		if raw := ev["name"]; !isAbsent(raw) {
			if err := unmarshalString(raw, &req.Event.Name); err != nil {
				return req, wire.CodeEventNameType, "event.name must be a string"
			}
		}
	}
	if raw := fields["close"]; !isAbsent(raw) {
		if err := json.Unmarshal(raw, &req.Close); err != nil || (raw[0] != 't' && raw[0] != 'f') {
			return req, wire.CodeCloseType, "close must be a boolean"
		}
	}
	return req, "", ""
}

// isAbsent reports whether a field is missing or null.
func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// errNotString is unmarshalString's error.
var errNotString = errors.New("not a JSON string")

// unmarshalString decodes raw, which must be a JSON string, into s.
func unmarshalString(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errNotString
	}
	return json.Unmarshal(raw, s)
}
