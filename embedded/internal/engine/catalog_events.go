package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// uuidObject is the Object of a catalog entry that carries only the
// collection's UUID (drop, rename): change streams report it
// (collectionUUID of expanded events); replay ignores it.
func uuidObject(c *collection) bson.Raw {
	obj, _ := bson.Marshal(bson.D{{Key: "uuid", Value: c.uuid}})
	return obj
}
