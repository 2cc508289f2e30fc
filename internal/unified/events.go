package unified

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// checkEvents asserts one expectedEventsForClient: the observed command
// events match the expected ones in order; extra trailing events fail unless
// ignoreExtraEvents.
func (st *testState) checkEvents(ee bson.D) error {
	for _, e := range ee {
		switch e.Key {
		case "client", "events", "ignoreExtraEvents", "eventType":
		default:
			return skipf("unsupported expectEvents field %q", e.Key)
		}
	}
	c, err := st.ents.client(str(ee, "client"))
	if err != nil {
		return err
	}
	expected, err := docList(valueOr(ee, "events", bson.A{}), "events")
	if err != nil {
		return err
	}
	ignoreExtra, _ := valueOr(ee, "ignoreExtraEvents", false).(bool)
	got := c.observed()
	summary := func() string {
		var names []string
		for _, g := range got {
			names = append(names, strings.TrimSuffix(g.kind, "Event")+":"+g.name)
		}
		return "[" + strings.Join(names, " ") + "]"
	}
	if len(got) < len(expected) || (!ignoreExtra && len(got) != len(expected)) {
		return fmt.Errorf("events of %s: want %d, observed %d %s", c.id, len(expected), len(got), summary())
	}
	for i, exp := range expected {
		if err := st.matchEvent(exp, got[i]); err != nil {
			return fmt.Errorf("events of %s [%d]: %w (observed %s)", c.id, i, err, summary())
		}
	}
	return nil
}

func (st *testState) matchEvent(exp bson.D, got cmdEvent) error {
	if len(exp) != 1 {
		return fmt.Errorf("expected event must have exactly one key")
	}
	kind := exp[0].Key
	spec := asDoc(exp[0].Value)
	switch kind {
	case "commandStartedEvent", "commandSucceededEvent", "commandFailedEvent":
	default:
		return skipf("unsupported expected event %q", kind)
	}
	if kind != got.kind {
		return fmt.Errorf("want %s, got %s for %s", kind, got.kind, got.name)
	}
	for _, e := range spec {
		switch e.Key {
		case "command":
			if kind != "commandStartedEvent" {
				return skipf("%s has no field %q", kind, e.Key)
			}
			if err := st.m.match(e.Value, got.command, true, true, "command"); err != nil {
				return fmt.Errorf("%s %s: %w", kind, got.name, err)
			}
		case "reply":
			if kind != "commandSucceededEvent" {
				return skipf("%s has no field %q", kind, e.Key)
			}
			if err := st.m.match(e.Value, got.reply, true, true, "reply"); err != nil {
				return fmt.Errorf("%s %s: %w", kind, got.name, err)
			}
		case "commandName":
			if s, _ := e.Value.(string); s != got.name {
				return fmt.Errorf("%s: want commandName %q, got %q", kind, s, got.name)
			}
		case "databaseName":
			if s, _ := e.Value.(string); s != got.db {
				return fmt.Errorf("%s %s: want databaseName %q, got %q", kind, got.name, s, got.db)
			}
		case "hasServiceId":
			want, _ := e.Value.(bool)
			has := got.serviceID != nil && !got.serviceID.IsZero()
			if want != has {
				return fmt.Errorf("%s %s: hasServiceId want %v", kind, got.name, want)
			}
		case "hasServerConnectionId":
			want, _ := e.Value.(bool)
			has := got.serverConnID != nil && *got.serverConnID > 0
			if want != has {
				return fmt.Errorf("%s %s: hasServerConnectionId want %v", kind, got.name, want)
			}
		default:
			return skipf("unsupported %s field %q", kind, e.Key)
		}
	}
	return nil
}
