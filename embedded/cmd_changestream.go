package embedded

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// openChangeStream serves an aggregate whose first stage is $changeStream.
func (s *Server) openChangeStream(ctx context.Context, req *request, a aggregateArgs) (bson.D, error) {
	return nil, notSupported("$changeStream")
}
