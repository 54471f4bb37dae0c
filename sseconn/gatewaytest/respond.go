package gatewaytest

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"strconv"

	"github.com/ssegate/ssegate/internal/wire"
)

// marshalJSON encodes v like JavaScript's JSON.stringify: no HTML escaping
// and no trailing newline.
func marshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("gatewaytest: cannot encode JSON: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeJSON answers like Express's res.status(status).json(v).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b := marshalJSON(v)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers with the gateway's JSON error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, wire.ErrorBody{Error: wire.ErrorDetail{Message: message, Code: code}})
}

// writeHTML answers with an HTML error page like Express's final handler
// in production mode.
func writeHTML(w http.ResponseWriter, status int, message string) {
	b := []byte("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>" +
		html.EscapeString(message) + "</pre>\n</body>\n</html>\n")
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeProxyError answers like a reverse proxy in front of the gateway
// (nginx), with a non-JSON body.
func writeProxyError(w http.ResponseWriter, status int) {
	line := strconv.Itoa(status) + " " + http.StatusText(status)
	b := []byte("<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Server", "nginx")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
