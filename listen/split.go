package listen

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// splitAssembler reassembles events that $changeStreamSplitLargeEvent cut
// into fragments. Each fragment holds some top-level fields of the event
// plus splitEvent {fragment: i, of: n}; its _id is a token for that
// fragment. The whole event takes the last fragment's token, so that a
// checkpoint never points into the middle of an event.
type splitAssembler struct {
	fields  bson.D
	next    int32
	of      int32
	startAt bson.Raw // resume point before the first fragment
}

// add consumes raw. It returns the complete event when raw is unsplit or
// the last fragment; nil while fragments are outstanding.
func (a *splitAssembler) add(raw bson.Raw, before bson.Raw) (bson.Raw, error) {
	sv, err := raw.LookupErr("splitEvent")
	if err != nil {
		if a.of != 0 {
			a.reset()
			return nil, fmt.Errorf("listen: unsplit event arrived while %d/%d fragments were pending", a.next-1, a.of)
		}
		return raw, nil
	}
	frag, _ := sv.Document().Lookup("fragment").AsInt64OK()
	of, _ := sv.Document().Lookup("of").AsInt64OK()
	if a.of == 0 {
		if frag != 1 {
			return nil, fmt.Errorf("listen: event fragment %d/%d without its predecessors", frag, of)
		}
		a.of, a.next, a.startAt = int32(of), 1, before
	}
	if int32(frag) != a.next || int32(of) != a.of {
		a.reset()
		return nil, fmt.Errorf("listen: event fragment %d/%d out of order", frag, of)
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		k := e.Key()
		if k == "splitEvent" {
			continue
		}
		if k == "_id" {
			// Keep only the last fragment's token.
			for i := range a.fields {
				if a.fields[i].Key == "_id" {
					a.fields = append(a.fields[:i], a.fields[i+1:]...)
					break
				}
			}
		}
		a.fields = append(a.fields, bson.E{Key: k, Value: e.Value()})
	}
	a.next++
	if int32(frag) < a.of {
		return nil, nil
	}
	out, err := bson.Marshal(a.fields)
	a.reset()
	return out, err
}

// pending reports whether fragments are outstanding, and the resume point
// before them: a reconnect must go back there and read all fragments again.
func (a *splitAssembler) pending() (bool, bson.Raw) { return a.of != 0, a.startAt }

func (a *splitAssembler) reset() { *a = splitAssembler{} }
