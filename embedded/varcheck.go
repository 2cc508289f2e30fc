package embedded

import (
	"maps"
	"slices"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// checkVariables refuses a command using an undefined "$$variable" in its
// pipeline or in its filter's $expr, with 17276 as mongod does when it
// parses the command, before any document is read: evaluating it lazily
// would accept the command on an empty collection and, in a change
// stream's $match, silently match nothing. vars is the command's let.
func checkVariables(pipeline []bson.D, filter bson.D, vars map[string]any) error {
	defined := slices.Collect(maps.Keys(vars))
	if err := mql.CheckPipelineVariables(pipeline, defined); err != nil {
		return err
	}
	return mql.CheckFilterVariables(filter, defined)
}
