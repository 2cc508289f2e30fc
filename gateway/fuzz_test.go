package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/time/rate"
)

// fuzzEnv is a gateway with alice's and bob's documents; bob's carry a
// marker that must never appear in an answer to alice.
func fuzzEnv(f *testing.F) (*env, string) {
	// Fuzzing sends thousands of requests a second as alice.
	e := newEnv(f, func(c *Config) { c.RateLimit = rate.Inf })
	for i := range 6 {
		e.insert("notes",
			bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: "alice"}, {Key: "n", Value: i}, {Key: "tags", Value: bson.A{"x", i}}},
			bson.D{{Key: "_id", Value: 100 + i}, {Key: "owner", Value: "bob"}, {Key: "n", Value: i}, {Key: "secret", Value: "BOBSECRET"}})
	}
	return e, e.tok("alice")
}

func serve(e *env, req *http.Request, tok string) *httptest.ResponseRecorder {
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	e.gw.ServeHTTP(rec, req)
	return rec
}

// FuzzQueryFilter: no query body makes the gateway answer 5xx or return
// another owner's document.
func FuzzQueryFilter(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"filter":{}}`, `{"filter":{"n":{"$gte":2}},"sort":{"n":-1},"limit":3}`,
		`{"filter":{"owner":"bob"}}`, `{"filter":{"$or":[{"owner":"bob"},{"n":1}]}}`,
		`{"filter":{"owner":{"$ne":"alice"}}}`, `{"filter":{"$where":"true"}}`, `{"filter":{"$expr":{"$eq":[1,1]}}}`,
		`{"filter":{"n":{"$in":[1,2]}},"projection":{"owner":0}}`, `{"filter":{"secret":{"$exists":true}}}`,
		`{"filter":{"_id":{"$gt":{"$oid":"000000000000000000000000"}}}}`, `{"filter":{"tags":{"$regex":"x"}}}`,
		`{"projection":{"n":{"$slice":1}}}`, `{"sort":{"$natural":1}}`, `{"limit":-1}`, `{"filter":[]}`, `[1]`, `{"filter":{"a.$b":1}}`,
		`{"filter":{"$and":[{"$or":[{"owner":"bob"}]}]}}`, `{"filter":{"owner":{"$in":["bob","alice"]}},"limit":100000}`,
	} {
		f.Add(s)
	}
	e, alice := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(e, httptest.NewRequest("POST", "/v1/documents/notes/query", strings.NewReader(body)), alice)
		if rec.Code >= 500 {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "BOBSECRET") || strings.Contains(rec.Body.String(), `"bob"`) {
			t.Fatalf("body %q returned bob's document: %s", body, rec.Body)
		}
	})
}

// FuzzCursor: no since value makes a pull answer 5xx or another owner's
// change; anything but a cursor issued to alice for the collection list
// is 400.
func FuzzCursor(f *testing.F) {
	e, alice := fuzzEnv(f)
	valid := e.pull(alice, "collections=notes").Cursor
	bobs := e.pull(e.tok("bob"), "collections=notes").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: 50}, {Key: "owner", Value: "bob"}, {Key: "secret", Value: "BOBSECRET"}})
	for _, s := range []string{valid, bobs, flipLast(valid), valid[:len(valid)/2], strings.Replace(valid, ".", "", 1), "", ".", "a.b", valid + "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, since string) {
		rec := serve(e, httptest.NewRequest("GET", "/v1/changes?collections=notes&since="+url.QueryEscape(since), nil), alice)
		// Issued to alice for notes, by this process or another one with
		// the same key (the fuzzer's workers are processes).
		c, err := decodeCursor(testCursorKey, since)
		issued := since == "" || (err == nil && c.check("alice", []string{"notes"}) == nil)
		switch {
		case rec.Code >= 500:
			t.Fatalf("since %q: %d %s", since, rec.Code, rec.Body)
		case strings.Contains(rec.Body.String(), "BOBSECRET"):
			t.Fatalf("since %q returned bob's change: %s", since, rec.Body)
		case rec.Code == 200 && !issued:
			t.Fatalf("since %q, not a cursor issued to alice, was accepted: %s", since, rec.Body)
		case rec.Code != 200 && (since == "" || since == valid):
			t.Fatalf("since %q: %d %s, want 200", since, rec.Code, rec.Body)
		}
	})
}

// TestFilterAllowList: the operators in the allow-list pass, the others
// and $-prefixed paths are refused.
func TestFilterAllowList(t *testing.T) {
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{"filter":{"a":1,"b":{"$gt":1,"$lte":5},"c":{"$in":[1]},"d":{"$nin":[2]},"e":{"$exists":false},"f":{"$ne":null},"g":{"$eq":{"$x":1}}}}`, true},
		{`{"filter":{"$and":[{"a":1}],"$or":[{"b":2}]}}`, true},
		{`{"filter":{"a":{"$regex":"x"}}}`, false},
		{`{"filter":{"a":{"$regularExpression":{"pattern":"x","options":""}}}}`, false},
		{`{"filter":{"$where":"1"}}`, false},
		{`{"filter":{"$expr":{}}}`, false},
		{`{"filter":{"a":{"$elemMatch":{}}}}`, false},
		{`{"filter":{"$a":1}}`, false},
		{`{"filter":{"a.$b":1}}`, false},
		{`{"filter":{"a":{"$in":1}}}`, false},
		{`{"filter":{"$or":[]}}`, false},
		{`{"sort":{"a":2}}`, false},
		{`{"projection":{"a":{"$slice":1}}}`, false},
		{`{"filters":{}}`, false},
	} {
		_, err := parseQuery([]byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.body, err, c.ok)
		}
	}
}
