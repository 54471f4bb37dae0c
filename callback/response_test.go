package callback_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
)

func TestConnectResponseJSON(t *testing.T) {
	tests := []struct {
		name string
		resp callback.ConnectResponse
		want string
	}{
		{"zero value", callback.ConnectResponse{}, `{}`},
		{"AMQP bindings", callback.ConnectResponse{RequestID: "abc", Bindings: []string{"connection.abc", "broadcast"}},
			`{"request_id":"abc","bindings":["connection.abc","broadcast"]}`},
		{"all fields", callback.ConnectResponse{RequestID: "abc", Bindings: []string{"connection.abc", "subject.u1", "role.admin", "broadcast"}, Subject: "u1", Role: "admin"},
			`{"request_id":"abc","bindings":["connection.abc","subject.u1","role.admin","broadcast"],"subject":"u1","role":"admin"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(b)); diff != "" {
				t.Errorf("json.Marshal (-want +got):\n%s", diff)
			}
			var back callback.ConnectResponse
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.resp, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}
