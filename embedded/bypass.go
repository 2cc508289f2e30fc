package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// noValidation runs writes with bypassDocumentValidation: true. It wraps
// the Ops a command writes through, so its inserts, updates and
// findAndModify skip the target collection's validator.
type noValidation struct{ engine.Ops }

// withoutValidation returns ops that skip validators when bypass is set.
func withoutValidation(ops engine.Ops, bypass bool) engine.Ops {
	if !bypass {
		return ops
	}
	return noValidation{ops}
}

func (o noValidation) Insert(ns engine.Namespace, doc bson.D) (any, error) {
	if v, ok := o.Ops.(engine.ValidationOps); ok {
		return v.InsertNoValidation(ns, doc)
	}
	return o.Ops.Insert(ns, doc)
}

func (o noValidation) Update(ns engine.Namespace, args engine.UpdateArgs) (engine.UpdateResult, error) {
	args.BypassDocumentValidation = true
	return o.Ops.Update(ns, args)
}

func (o noValidation) FindAndModify(ns engine.Namespace, args engine.FindAndModifyArgs) (engine.FindAndModifyResult, error) {
	args.BypassDocumentValidation = true
	return o.Ops.FindAndModify(ns, args)
}
