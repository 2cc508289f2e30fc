package embedded

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// maxBatchBytes bounds what one "as many as fit" batch returns, leaving room
// under the 16 MiB message limit for the reply envelope.
const maxBatchBytes = 16*1024*1024 - 64*1024

// sliceSource is a cursorSource over a result computed up front (find,
// aggregate, listCollections, listIndexes): the engine evaluates a query in
// one pass, so the cursor only hands out batches of it.
type sliceSource struct {
	docs []bson.Raw
}

func newSliceSource(docs []bson.Raw) *sliceSource { return &sliceSource{docs: docs} }

func (s *sliceSource) Next(ctx context.Context, n int, _ time.Duration) ([]bson.Raw, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	take := len(s.docs)
	if n > 0 && n < take {
		take = n
	}
	if n <= 0 {
		size := 0
		for i, d := range s.docs[:take] {
			size += len(d) + 16
			if size > maxBatchBytes && i > 0 {
				take = i
				break
			}
		}
	}
	out := s.docs[:take:take]
	s.docs = s.docs[take:]
	return out, len(s.docs) == 0, nil
}

func (s *sliceSource) PostBatchResumeToken() bson.Raw { return nil }

func (s *sliceSource) Close() { s.docs = nil }
