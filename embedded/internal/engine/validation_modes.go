package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// validates reports whether the validator may reject a write to c, given
// the document it replaces (nil for an insert): never with
// validationAction "warn" (mongod only logs) or validationLevel "off", and
// with "moderate" not for an update of a document that did not match
// already.
func (c *collection) validates(old bson.D) bool {
	switch {
	case c.opts.ValidationAction == "warn", c.opts.ValidationLevel == "off":
		return false
	case c.opts.ValidationLevel == "moderate" && old != nil:
		return c.validator.Match(old)
	}
	return true
}
