package version

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// EventName is the SSE event name of every event this package sends.
const EventName = "version"

// Unknown is the version string of the event sent on connect when the
// [Source] fails: {"version":"unknown","error":"<reason>"}.
const Unknown = "unknown"

// Info is a version notification. It encodes as the JSON object
// {"version":"1.2.3","changelog":"..."}, with changelog omitted when empty,
// which is also the shape of a version.json file.
type Info struct {
	// Version is the version string. It must not be empty.
	Version string `json:"version"`
	// Changelog is an optional free-form description of the version.
	Changelog string `json:"changelog,omitempty"`
}

// unknownInfo is the data of the event that reports a failing source.
type unknownInfo struct {
	Version string `json:"version"`
	Error   string `json:"error"`
}

// infoFile is the decoding form of a version.json file. Pointers tell a
// missing field from an empty one.
type infoFile struct {
	Version   *string `json:"version"`
	Changelog *string `json:"changelog"`
}

// ParseInfo decodes a version.json document: a JSON object with a string
// "version" (required, not empty) and an optional string "changelog" (null
// means empty). Unknown fields are ignored. Every error wraps
// [ErrInvalidInfo].
func ParseInfo(data []byte) (Info, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Info{}, fmt.Errorf("%w: not a JSON object", ErrInvalidInfo)
	}
	var f infoFile
	if err := json.Unmarshal(data, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Info{}, fmt.Errorf("%w: field %q is not a string", ErrInvalidInfo, te.Field)
		}
		return Info{}, fmt.Errorf("%w: %v", ErrInvalidInfo, err)
	}
	if f.Version == nil {
		return Info{}, fmt.Errorf("%w: missing version", ErrInvalidInfo)
	}
	info := Info{Version: *f.Version}
	if f.Changelog != nil {
		info.Changelog = *f.Changelog
	}
	if err := info.validate(); err != nil {
		return Info{}, err
	}
	return info, nil
}

// validate reports why info cannot be sent, or nil.
func (info Info) validate() error {
	if info.Version == "" {
		return fmt.Errorf("%w: empty version", ErrInvalidInfo)
	}
	return nil
}

// encode returns the event data of info. It never fails for a valid Info:
// both fields are strings.
func (info Info) encode() (string, error) {
	if err := info.validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("version: encode info: %w", err)
	}
	return string(b), nil
}

// encodeUnknown returns the event data that reports a failing source.
func encodeUnknown(reason string) string {
	b, err := json.Marshal(unknownInfo{Version: Unknown, Error: reason})
	if err != nil {
		// Unreachable: two strings always encode.
		return `{"version":"unknown","error":"unknown"}`
	}
	return string(b)
}
