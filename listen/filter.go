package listen

import (
	"fmt"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// eventFilter is a listener's in-process selection: operation types and a
// document filter. Keeping both out of the server pipeline is what lets
// listeners with different selections share one server cursor.
type eventFilter struct {
	ops     map[OperationType]bool // nil: all
	matcher *mql.Matcher           // nil: every document
}

func newEventFilter(cfg *Config) (*eventFilter, error) {
	f := &eventFilter{}
	if len(cfg.OperationTypes) > 0 {
		f.ops = make(map[OperationType]bool, len(cfg.OperationTypes))
		for _, t := range cfg.OperationTypes {
			f.ops[t] = true
		}
	}
	if len(cfg.Filter) > 0 {
		m, err := mql.NewMatcher(cfg.Filter)
		if err != nil {
			return nil, fmt.Errorf("listen: WithFilter %s: %w", filterString(cfg.Filter), err)
		}
		f.matcher = m
	}
	return f, nil
}

func (f *eventFilter) accepts(ev *parsedEvent) bool {
	if f.ops != nil && !f.ops[ev.op] {
		return false
	}
	if f.matcher == nil {
		return true
	}
	switch ev.op {
	case Insert, Update, Replace, Delete:
	default:
		// Collection-level events (drop, rename, invalidate) have no
		// document; a document filter does not hide them.
		return true
	}
	doc := ev.document()
	return doc != nil && f.matcher.Match(doc)
}

func filterString(d bson.D) string {
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		return fmt.Sprint(d)
	}
	return string(b)
}
