package amqp

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ssegate/ssegate/callback"
)

// Routing-key prefixes of the gateway's common bindings (PROTOCOL.md
// section 6).
const (
	connectionPrefix = "connection"
	subjectPrefix    = "subject"
	rolePrefix       = "role"
)

// BroadcastKey is the routing key that every browser stream bound by
// [Bindings] receives.
const BroadcastKey = "broadcast"

// maxKeyBytes is AMQP's limit for a routing key (a short string).
const maxKeyBytes = 255

// ConnectionKey returns the routing key of one browser stream:
// "connection.<requestID>". It does not validate requestID;
// [Publisher.PublishToConnection] and [Bindings] do.
func ConnectionKey(requestID string) string { return connectionPrefix + "." + requestID }

// SubjectKey returns the routing key of every stream of a user:
// "subject.<subject>". It does not validate subject;
// [Publisher.PublishToSubject] and [Bindings] do.
func SubjectKey(subject string) string { return subjectPrefix + "." + subject }

// RoleKey returns the routing key of every stream of a role: "role.<role>".
// It does not validate role; [Publisher.PublishToRole] and [Bindings] do.
func RoleKey(role string) string { return rolePrefix + "." + role }

// Bindings returns the answer of a connect service that subscribes the
// browser stream to its own key, to its subject's and role's keys when they
// are not empty, and to [BroadcastKey]. In AMQP mode the gateway then
// declares the queue sse.conn.<requestID> and binds it with those keys:
//
//	func (s *svc) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
//		user := ... // authenticate the request
//		return amqp.Bindings(req.Params["request_id"], user, "")
//	}
//
// requestID must not be empty. requestID, subject and role must not
// contain '.', '*' or '#', whitespace or control characters: the gateway
// uses the bindings as topic patterns, so a request ID of "*" would
// otherwise subscribe a browser to every stream's messages. Since the request
// ID usually comes from the browser, the error, which wraps
// [ErrInvalidKey], is best answered with a 400.
func Bindings(requestID, subject, role string) (*callback.ConnectResponse, error) {
	if err := checkID("request ID", requestID); err != nil {
		return nil, err
	}
	keys := []string{ConnectionKey(requestID)}
	if subject != "" {
		if err := checkID("subject", subject); err != nil {
			return nil, err
		}
		keys = append(keys, SubjectKey(subject))
	}
	if role != "" {
		if err := checkID("role", role); err != nil {
			return nil, err
		}
		keys = append(keys, RoleKey(role))
	}
	keys = append(keys, BroadcastKey)
	return &callback.ConnectResponse{RequestID: requestID, Bindings: keys, Subject: subject, Role: role}, nil
}

// checkID reports whether id can be the last word of a routing key and of a
// binding: not empty, no '.', no wildcard, nothing invisible, and short
// enough that "connection.<id>" fits in a routing key.
func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidKey, what)
	case len(id) > maxKeyBytes-len(connectionPrefix)-1:
		return fmt.Errorf("%w: %s is %d bytes long", ErrInvalidKey, what, len(id))
	case strings.ContainsAny(id, ".*#"):
		return fmt.Errorf("%w: %s %q contains '.', '*' or '#'", ErrInvalidKey, what, id)
	}
	if why := badChars(id); why != "" {
		return fmt.Errorf("%w: %s %q %s", ErrInvalidKey, what, id, why)
	}
	return nil
}

// checkKey reports whether key can be published to: not empty, at most 255
// bytes, no wildcards, no empty words and nothing invisible.
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty routing key", ErrInvalidKey)
	case len(key) > maxKeyBytes:
		return fmt.Errorf("%w: routing key is %d bytes long, limit %d", ErrInvalidKey, len(key), maxKeyBytes)
	case strings.ContainsAny(key, "*#"):
		return fmt.Errorf("%w: routing key %q contains a wildcard", ErrInvalidKey, key)
	case key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, ".."):
		return fmt.Errorf("%w: routing key %q has an empty word", ErrInvalidKey, key)
	}
	if why := badChars(key); why != "" {
		return fmt.Errorf("%w: routing key %q %s", ErrInvalidKey, key, why)
	}
	return nil
}

// badChars returns why s cannot be part of a routing key (invalid UTF-8,
// whitespace or a control character), or "".
func badChars(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "contains whitespace or a control character"
		}
	}
	return ""
}

// route returns the kind of a routing key for telemetry: the first word when
// it is one of the gateway's common prefixes, "other" otherwise. It never
// returns the identifier part.
func route(key string) string {
	word, _, _ := strings.Cut(key, ".")
	switch word {
	case connectionPrefix, subjectPrefix, rolePrefix, BroadcastKey:
		return word
	}
	return "other"
}
