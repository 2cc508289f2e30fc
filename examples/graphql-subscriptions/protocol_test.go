package main

import (
	"encoding/json"
	"testing"

	"github.com/coder/websocket"
)

func TestProtocolViolationsClose(t *testing.T) {
	f := newFixture(t)

	t.Run("no subprotocol", func(t *testing.T) {
		c, _, err := websocket.Dial(t.Context(), f.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		(&wsClient{t: t, c: c}).expectClose(closeSubprotocol)
	})
	t.Run("second connection_init", func(t *testing.T) {
		w := connect(t, f.url, "alice-token")
		w.send(message{Type: "connection_init", Payload: json.RawMessage(`{"token": "alice-token"}`)})
		w.expectClose(closeTooManyInits)
	})
	t.Run("duplicate subscription id", func(t *testing.T) {
		w := connect(t, f.url, "alice-token")
		w.subscribe("1", allChanges, nil)
		w.subscribe("1", allChanges, nil)
		w.expectClose(closeDuplicateID)
	})
	t.Run("not JSON", func(t *testing.T) {
		w := connect(t, f.url, "alice-token")
		if err := w.c.Write(t.Context(), websocket.MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		w.expectClose(closeBadRequest)
	})
	t.Run("unknown type", func(t *testing.T) {
		w := connect(t, f.url, "alice-token")
		w.send(message{Type: "start"}) // the legacy subscriptions-transport-ws protocol
		w.expectClose(closeBadRequest)
	})
}
