package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
)

// cappedNumber reads create's size or max, which MongoDB takes as any
// number and bounds (size at 1 PB, max below 2^31).
func cappedNumber(cmd, key string, v any, limit int64) (int64, error) {
	n, ok := asInt64(v)
	if f, isFloat := v.(float64); isFloat {
		n, ok = int64(f), true
	}
	if !ok {
		return 0, cmdError(codeTypeMismatch, "TypeMismatch", "BSON field '%s.%s' is the wrong type '%s', expected types '[long, int, decimal, double]'", cmd, key, typeName(v))
	}
	if n < 0 {
		return 0, cmdError(codeBadValue, "BadValue", "%s has to be >= 0", key)
	}
	if n > limit {
		if key == "size" {
			return 0, cmdError(codeBadValue, "BadValue", "size cannot exceed 1 PB")
		}
		return 0, cmdError(codeBadValue, "BadValue", "max in a capped collection has to be < 2^31 or not set")
	}
	return n, nil
}

// cappedOptions checks and normalises the capped options of create: size
// is required, rounded up to a multiple of 256 bytes as MongoDB stores it;
// size and max mean nothing without capped.
func cappedOptions(o engine.CollectionOptions, isView bool) (engine.CollectionOptions, error) {
	if !o.Capped {
		o.CappedSize, o.CappedMax = 0, 0
		return o, nil
	}
	if isView {
		return o, cmdError(codeInvalidOptions, "InvalidOptions", "option 'capped' is not supported for a view")
	}
	if o.CappedSize == 0 {
		return o, cmdError(codeInvalidOptions, "InvalidOptions", "the 'size' field is required when 'capped' is true")
	}
	if r := o.CappedSize % 256; r != 0 {
		o.CappedSize += 256 - r
	}
	return o, nil
}

// refuseCappedTxnWrite refuses a write to a capped collection inside a
// transaction, as MongoDB does (its evictions cannot be rolled back).
func (s *Server) refuseCappedTxnWrite(req *request, ns engine.Namespace) error {
	if req.Txn == nil {
		return nil
	}
	if info, ok := s.engine.Collection(ns); ok && info.Options.Capped {
		return cmdError(codeOperationNotSupportedInTransaction, "OperationNotSupportedInTransaction",
			"Collection '%s' is a capped collection. Writes in transactions are not allowed on capped collections.", ns)
	}
	return nil
}
