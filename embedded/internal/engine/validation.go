package engine

import (
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// validationError is 121 DocumentValidationFailure for doc, with the
// errInfo MongoDB 5.0+ adds: {failingDocumentId, details: {operatorName,
// ...}} saying which part of the validator the document fails.
func (c *collection) validationError(doc bson.D) *Error {
	e := validationError()
	var id any
	for _, f := range doc {
		if f.Key == "_id" {
			id = f.Value
			break
		}
	}
	e.ErrInfo = bson.D{
		{Key: "failingDocumentId", Value: id},
		{Key: "details", Value: mql.ValidationDetails(c.opts.Validator, doc)},
	}
	return e
}
