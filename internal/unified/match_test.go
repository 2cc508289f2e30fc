package unified

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func ext(t *testing.T, s string) any {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(`{"v":`+s+`}`), false, &d); err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return d[0].Value
}

func TestMatch(t *testing.T) {
	ents := newEntityMap()
	if err := ents.add("saved", int32(7)); err != nil {
		t.Fatal(err)
	}
	m := &matcher{ents: ents}
	cases := []struct {
		name     string
		exp, act string
		root     bool
		ok       bool
	}{
		{"root extra field allowed", `{"x": 1}`, `{"x": 1, "y": 2}`, true, true},
		{"nested extra field rejected", `{"x": {"a": 1}}`, `{"x": {"a": 1, "b": 2}}`, true, false},
		{"non-root extra field rejected", `{"x": 1}`, `{"x": 1, "y": 2}`, false, false},
		{"missing field", `{"x": 1, "y": 1}`, `{"x": 1}`, true, false},
		{"key order ignored", `{"x": 1, "y": 2}`, `{"y": 2, "x": 1}`, false, true},
		{"int32 equals int64", `{"n": 1}`, `{"n": {"$numberLong": "1"}}`, true, true},
		{"int equals double", `{"n": 1}`, `{"n": 1.0}`, true, true},
		{"int differs from 1.5", `{"n": 1}`, `{"n": 1.5}`, true, false},
		{"string is not number", `{"n": 1}`, `{"n": "1"}`, true, false},
		{"array same length", `[1, 2]`, `[1, 2]`, false, true},
		{"array longer", `[1, 2]`, `[1, 2, 3]`, false, false},
		{"array element docs are nested", `[{"a": 1}]`, `[{"a": 1, "b": 1}]`, false, false},
		{"exists true", `{"x": {"$$exists": true}}`, `{"x": null}`, true, true},
		{"exists true missing", `{"x": {"$$exists": true}}`, `{}`, true, false},
		{"exists false", `{"x": {"$$exists": false}}`, `{}`, true, true},
		{"exists false present", `{"x": {"$$exists": false}}`, `{"x": 1}`, true, false},
		{"exists false satisfies nested no-extra", `{"d": {"x": {"$$exists": false}}}`, `{"d": {}}`, true, true},
		{"type int or long", `{"x": {"$$type": ["int", "long"]}}`, `{"x": {"$numberLong": "5"}}`, true, true},
		{"type mismatch", `{"x": {"$$type": "string"}}`, `{"x": 5}`, true, false},
		{"type missing", `{"x": {"$$type": "string"}}`, `{}`, true, false},
		{"unsetOrMatches unset", `{"x": {"$$unsetOrMatches": 2}}`, `{}`, true, true},
		{"unsetOrMatches match", `{"x": {"$$unsetOrMatches": 2}}`, `{"x": 2}`, true, true},
		{"unsetOrMatches mismatch", `{"x": {"$$unsetOrMatches": 2}}`, `{"x": 3}`, true, false},
		{"unsetOrMatches nested doc", `{"x": {"$$unsetOrMatches": {"0": 2}}}`, `{"x": {"0": 2, "1": 3}}`, true, false},
		{"root unsetOrMatches", `{"$$unsetOrMatches": {"insertedId": {"$$unsetOrMatches": 2}}}`, `{"insertedId": 2}`, true, true},
		{"lte", `{"x": {"$$lte": 5}}`, `{"x": 4.5}`, true, true},
		{"lte over", `{"x": {"$$lte": 5}}`, `{"x": 6}`, true, false},
		{"matchesEntity", `{"x": {"$$matchesEntity": "saved"}}`, `{"x": 7}`, true, true},
		{"matchesHexBytes", `{"$$matchesHexBytes": "0aff"}`, `{"$binary": {"base64": "Cv8=", "subType": "00"}}`, false, true},
		{"null equals null", `{"x": null}`, `{"x": null}`, true, true},
		{"null is not missing", `{"x": null}`, `{}`, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := m.match(ext(t, c.exp), ext(t, c.act), true, c.root, "")
			if c.ok && err != nil {
				t.Fatalf("want match, got %v", err)
			}
			if !c.ok && err == nil {
				t.Fatalf("want mismatch, got match")
			}
		})
	}
}

func TestMatchUnknownOperatorIsSkip(t *testing.T) {
	m := &matcher{ents: newEntityMap()}
	err := m.match(ext(t, `{"$$bogus": 1}`), int32(1), true, false, "")
	if _, ok := err.(*skipError); !ok {
		t.Fatalf("want a skip for an unknown operator, got %v", err)
	}
}

func TestExactEqual(t *testing.T) {
	a := ext(t, `{"_id": 1, "x": {"a": [1, 2]}}`)
	if !exactEqual(a, ext(t, `{"x": {"a": [1, 2]}, "_id": 1}`)) {
		t.Fatal("key order must not matter")
	}
	if exactEqual(a, ext(t, `{"_id": 1, "x": {"a": [1, {"$numberLong": "2"}]}}`)) {
		t.Fatal("int32 and int64 must differ in outcomes")
	}
	if exactEqual(a, ext(t, `{"_id": 1, "x": {"a": [1, 2]}, "y": 1}`)) {
		t.Fatal("extra fields must differ in outcomes")
	}
}

func TestVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"4.0.10", "4.0.9", 1}, {"3.6", "4.2.0", -1}, {"4.2", "4.2.0", 0}, {"7.0.0-rc1", "7.0", 0}} {
		a, err := parseVersion(c.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseVersion(c.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := compareVersions(a, b); got != c.want {
			t.Errorf("compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if checkSchemaVersion("1.0") != "" || checkSchemaVersion("1.7") != "" {
		t.Error("1.0 and 1.7 must be supported")
	}
	if checkSchemaVersion("2.0") == "" {
		t.Error("2.0 must be rejected")
	}
}

func TestWithURIOptions(t *testing.T) {
	got, err := withURIOptions("mongodb://127.0.0.1:1/?replicaSet=rs0&retryReads=true",
		bson.D{{Key: "retryReads", Value: false}, {Key: "appname", Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "mongodb://127.0.0.1:1/?replicaSet=rs0&retryReads=false&appname=x"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	got, _ = withURIOptions("mongodb://h:1", bson.D{{Key: "w", Value: int32(1)}})
	if got != "mongodb://h:1/?w=1" {
		t.Fatalf("got %s", got)
	}
}
