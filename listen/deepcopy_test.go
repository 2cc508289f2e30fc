package listen

import (
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type copyInner struct {
	Tags []string
	M    map[string]*int
}

type copyDoc struct {
	ID    any
	Name  string
	When  time.Time
	OID   bson.ObjectID
	Raw   bson.Raw
	Sub   *copyInner
	Arr   [2][]int
	Any   any
	Items []copyInner
}

type withPrivateRef struct {
	Name string
	tags []string
}

type withChan struct {
	C chan int
}

func TestDocCopierSharesNothingMutable(t *testing.T) {
	seven := 7
	tmpl := &copyDoc{
		ID:    int32(1),
		Name:  "n",
		When:  time.UnixMilli(1700000000000),
		OID:   bson.NewObjectID(),
		Raw:   bson.Raw{5, 0, 0, 0, 0},
		Sub:   &copyInner{Tags: []string{"a"}, M: map[string]*int{"k": &seven}},
		Arr:   [2][]int{{1}, {2}},
		Any:   bson.D{{Key: "x", Value: bson.A{int32(1), bson.D{{Key: "y", Value: "z"}}}}},
		Items: []copyInner{{Tags: []string{"b"}}},
	}
	for _, cp := range []*docCopier[copyDoc]{newDocCopier[copyDoc](), {generic: true}} {
		c, ok := cp.copy(tmpl)
		if !ok {
			t.Fatal("copy refused a copyable document")
		}
		if !reflect.DeepEqual(c, tmpl) {
			t.Fatalf("copy differs:\n%#v\n%#v", c, tmpl)
		}
		// Mutate every reachable reference of the copy.
		c.Raw[4] = 9
		c.Sub.Tags[0] = "changed"
		*c.Sub.M["k"] = 8
		c.Sub.M["new"] = nil
		c.Arr[0][0] = 100
		c.Any.(bson.D)[0].Value.(bson.A)[1].(bson.D)[0].Value = "changed"
		c.Items[0].Tags[0] = "changed"
		if tmpl.Raw[4] != 0 || tmpl.Sub.Tags[0] != "a" || *tmpl.Sub.M["k"] != 7 || len(tmpl.Sub.M) != 1 ||
			tmpl.Arr[0][0] != 1 || tmpl.Any.(bson.D)[0].Value.(bson.A)[1].(bson.D)[0].Value != "z" ||
			tmpl.Items[0].Tags[0] != "b" {
			t.Fatalf("mutating the copy changed the template: %#v", tmpl)
		}
	}
}

func TestDocCopierRefusesWhatItCannotCopy(t *testing.T) {
	if _, ok := newDocCopier[withPrivateRef]().copy(&withPrivateRef{tags: []string{"a"}}); ok {
		t.Error("copied a struct with an unexported slice, which would be shared")
	}
	if _, ok := newDocCopier[withChan]().copy(&withChan{C: make(chan int)}); ok {
		t.Error("copied a channel")
	}
	var nilDoc *copyDoc
	if c, ok := newDocCopier[copyDoc]().copy(nilDoc); !ok || c != nil {
		t.Errorf("nil template: got %v, %v; want nil, true", c, ok)
	}
	type flat struct {
		A int
		S string
		T time.Time
	}
	src := &flat{A: 1, S: "s"}
	c, ok := newDocCopier[flat]().copy(src)
	if !ok || c == src || *c != *src {
		t.Errorf("flat copy: got %p %v %v from %p", c, ok, c, src)
	}
}
