package changestream_test

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func asCommandError(err error, ce *mongo.CommandError) bool { return errors.As(err, ce) }

func asServerError(err error, se *mongo.ServerError) bool { return errors.As(err, se) }
