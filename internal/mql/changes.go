package mql

// UpdateDescription says what an update changed, in the shape of a change
// event's updateDescription field. Paths are dotted, relative to the document
// root; array elements appear as numeric path segments ("tags.2").
type UpdateDescription struct {
	// UpdatedFields maps each changed top-level-most path to its new value.
	UpdatedFields []Field
	// RemovedFields lists paths that no longer exist.
	RemovedFields []string
	// TruncatedArrays lists arrays that were shortened in place.
	TruncatedArrays []TruncatedArray
	// Replaced is set by pipeline-style updates whose diff is larger than
	// the new document: the server then logs a full replacement and change
	// streams report a "replace" event (with fullDocument) instead of an
	// "update". The fields above still list the changes.
	Replaced bool
}

// Field is a path and a value.
type Field struct {
	Path  string
	Value any
}

// TruncatedArray is an array that an update shortened to NewSize elements.
type TruncatedArray struct {
	Field   string
	NewSize int32
}

// Empty reports whether the description records no change at all.
func (u *UpdateDescription) Empty() bool {
	return u == nil || (len(u.UpdatedFields) == 0 && len(u.RemovedFields) == 0 && len(u.TruncatedArrays) == 0)
}
