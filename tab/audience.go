package tab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ssegate/ssegate/internal/ident"
)

// maxSubjectLen bounds subjects, and so the memory of a tab. Request ids
// are bounded by ident.MaxRequestIDLen.
const maxSubjectLen = 1024

// audienceKind says who an [Audience] reaches.
type audienceKind uint8

const (
	audienceNone audienceKind = iota
	audienceTab
	audienceSubject
	audienceBroadcast
)

// Audience says which tabs an event reaches: one tab ([To]), every tab of a
// user ([ToSubject]) or every tab ([Broadcast]). The zero Audience is
// invalid.
type Audience struct {
	kind      audienceKind
	requestID string
	subject   string
}

// To addresses the one tab whose stream connected with requestID (the tab's
// id, the stream URL's request_id) and whose subject is subject, as the
// hub's subject function (see [WithSubject]) reported it for that stream;
// "" for a hub without one, or for a stream the function reported no
// subject for.
//
// Both make the tab's key (see [Key]), so a browser of another user that
// opens a stream with the same request id never receives the event.
func To(requestID, subject string) Audience {
	return Audience{kind: audienceTab, requestID: requestID, subject: subject}
}

// ToSubject addresses every tab of the user subject.
func ToSubject(subject string) Audience {
	return Audience{kind: audienceSubject, subject: subject}
}

// Broadcast addresses every tab, whatever its user.
func Broadcast() Audience { return Audience{kind: audienceBroadcast} }

// String describes a, without the subject (which may identify a person):
// "tab <request id>", "subject" or "broadcast".
func (a Audience) String() string {
	switch a.kind {
	case audienceTab:
		return "tab " + a.requestID
	case audienceSubject:
		return "subject"
	case audienceBroadcast:
		return "broadcast"
	default:
		return "invalid audience"
	}
}

// Validate returns nil for an audience made by To, ToSubject or Broadcast
// with a valid request id and subject, and otherwise an error wrapping
// [ErrInvalidAudience].
func (a Audience) Validate() error {
	switch a.kind {
	case audienceTab:
		if err := checkRequestID(a.requestID); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidAudience, err)
		}
		if err := checkSubject(a.subject); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidAudience, err)
		}
	case audienceSubject:
		if a.subject == "" {
			return fmt.Errorf("%w: empty subject", ErrInvalidAudience)
		}
		if err := checkSubject(a.subject); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidAudience, err)
		}
	case audienceBroadcast:
	default:
		return fmt.Errorf("%w: the zero Audience; use To, ToSubject or Broadcast", ErrInvalidAudience)
	}
	return nil
}

func checkRequestID(rid string) error {
	if err := ident.CheckRequestID(rid); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequestID, err)
	}
	return nil
}

func checkSubject(s string) error {
	if len(s) > maxSubjectLen {
		return fmt.Errorf("%w: subject longer than %d bytes", ErrInvalidRequestID, maxSubjectLen)
	}
	return nil
}

// Key returns the key of the tab that connected with requestID as subject:
// the first 32 hex digits of SHA-256(subject + "\x00" + requestID). The hub
// registers the tab's stream as "tab:<key>" and, in AMQP mode, names its
// gateway queue sse.conn.<key> and binds it with connection.<key>.
//
// The request id is chosen by the browser, so it cannot be trusted to be
// the browser's own: deriving the key from the subject too means that a
// stream of another user, claiming the same request id, gets another key
// and never receives this tab's events.
func Key(requestID, subject string) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(requestID))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// SubjectKey returns the routing-key part of subject: the first 32 hex
// digits of SHA-256("subject\x00" + subject). In AMQP mode every tab of the
// subject is bound with subject.<SubjectKey(subject)>. A subject is hashed
// because a topic routing key gives '.', '*' and '#' a meaning, and the
// key reaches the broker and the gateway's logs.
func SubjectKey(subject string) string {
	h := sha256.New()
	h.Write([]byte("subject\x00"))
	h.Write([]byte(subject))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
