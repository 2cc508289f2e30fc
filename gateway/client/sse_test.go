package client

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestSSEReader: the parser follows the event-stream rules the gateway's
// stream and proxies in front of it may use: CRLF or LF, "field:value"
// with or without the space, multi-line data, comments as heartbeats,
// blocks without data not dispatched, and EOF after the last event.
func TestSSEReader(t *testing.T) {
	in := "retry: 1000\r\nevent: ready\r\nid: c0\r\ndata: {\"cursor\":\"c0\"}\r\n\r\n" +
		": heartbeat\n\n" +
		"event: nodata\n\n" +
		"event:change\nid:c1\ndata: {\"a\":\ndata:1}\n ignored: field\n\n" +
		"event: end\ndata: {}\n\n"
	comments := 0
	p := &sseReader{r: bufio.NewReader(strings.NewReader(in)), onLine: func() {}, onComment: func() { comments++ }}
	want := []sseEvent{
		{event: "ready", id: "c0", data: `{"cursor":"c0"}`},
		{event: "change", id: "c1", data: "{\"a\":\n1}"},
		{event: "end", data: "{}"},
	}
	for i, w := range want {
		ev, err := p.next()
		if err != nil || ev != w {
			t.Fatalf("event %d: %+v, %v; want %+v", i, ev, err, w)
		}
	}
	if _, err := p.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v, want EOF", err)
	}
	if comments != 1 {
		t.Fatalf("%d comments, want 1", comments)
	}
}
