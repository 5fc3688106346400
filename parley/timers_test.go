package parley

import (
	"encoding/json"
	"testing"
)

// TestTransferTargetRoundTrip: "to" is absent on other events, null for
// back to the queue and the agent otherwise, and survives storage (which
// stores events as JSON) unchanged.
func TestTransferTargetRoundTrip(t *testing.T) {
	cases := []struct {
		ev   Event
		want string
	}{
		{Event{Kind: KindMessage}, `{"seq":0,"id":"","at":null,"kind":"message","from":{"role":""},"whisper":false}`},
		{Event{Kind: KindTransferred, To: QueueTarget()}, `{"seq":0,"id":"","at":null,"kind":"transferred","from":{"role":""},"whisper":false,"to":null}`},
		{Event{Kind: KindTransferred, To: AgentTarget(Participant{Role: RoleAgent, ID: "a1", Name: "Ann"})},
			`{"seq":0,"id":"","at":null,"kind":"transferred","from":{"role":""},"whisper":false,"to":{"role":"agent","id":"a1","name":"Ann"}}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Fatalf("encoded %s, want %s", b, c.want)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if b2, _ := json.Marshal(back); string(b2) != c.want {
			t.Fatalf("round trip gave %s, want %s", b2, c.want)
		}
	}
}
