package embedded

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Command documents are parsed strictly, like MongoDB's IDL parser: a field a
// handler does not know is rejected with code 40415, because silently
// ignoring an option the client relies on would return wrong results.
// isGenericField reports the fields that never change a command's result
// here, so every handler accepts them.
func isGenericField(key string) bool {
	switch key {
	case "$db", "lsid", "txnNumber", "autocommit", "startTransaction", "stmtId", "stmtIds",
		"$clusterTime", "readConcern", "writeConcern", "comment", "$readPreference",
		"apiVersion", "apiStrict", "apiDeprecationErrors", "maxTimeMS",
		"$audit", "$client", "mayBypassWriteBlocking":
		return true
	}
	return false
}

// Error codes the handlers use, named as MongoDB names them.
const (
	codeInvalidLength                      int32 = 16
	codeNamespaceNotFound                  int32 = 26
	codeInvalidNamespace                   int32 = 73
	codeOperationNotSupportedInTransaction int32 = 263
	codeUnknownField                       int32 = 40415
	codeMissingField                       int32 = 40414
	codeNonNegative                        int32 = 51024
)

// cmdError builds the error a handler returns for a bad command.
func cmdError(code int32, codeName, format string, args ...any) error {
	return mql.Errorf(code, codeName, format, args...)
}

func unknownField(cmd, path string) error {
	return cmdError(codeUnknownField, "Location40415", "BSON field '%s.%s' is an unknown field.", cmd, path)
}

func missingField(cmd, path string) error {
	return cmdError(codeMissingField, "Location40414", "BSON field '%s.%s' is missing but a required field", cmd, path)
}

func wrongType(cmd, path string, v any, want string) error {
	return cmdError(codeTypeMismatch, "TypeMismatch", "BSON field '%s.%s' is the wrong type '%s', expected type '%s'",
		cmd, path, typeName(v), want)
}

func notSupported(format string, args ...any) error {
	return cmdError(codeNotImplemented, "NotImplemented", format+" (not supported by the embedded server)", args...)
}

// typeName is the BSON type alias of v as MongoDB spells it in errors.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bson.D, bson.M, bson.Raw:
		return "object"
	case bson.A:
		return "array"
	}
	return mql.TypeName(v)
}

// argDoc reads an object-valued field.
func argDoc(cmd, path string, v any) (bson.D, error) {
	switch d := v.(type) {
	case bson.D:
		return d, nil
	case bson.Raw:
		var out bson.D
		if err := bson.Unmarshal(d, &out); err != nil {
			return nil, cmdError(codeFailedToParse, "FailedToParse", "BSON field '%s.%s' is not a valid document: %v", cmd, path, err)
		}
		return out, nil
	}
	return nil, wrongType(cmd, path, v, "object")
}

// argOptDoc is argDoc that also accepts null as "not given".
func argOptDoc(cmd, path string, v any) (bson.D, error) {
	if v == nil {
		return nil, nil
	}
	return argDoc(cmd, path, v)
}

// argArray reads an array-valued field.
func argArray(cmd, path string, v any) (bson.A, error) {
	a, ok := v.(bson.A)
	if !ok {
		return nil, wrongType(cmd, path, v, "array")
	}
	return a, nil
}

// argDocs reads an array of objects.
func argDocs(cmd, path string, v any) ([]bson.D, error) {
	a, err := argArray(cmd, path, v)
	if err != nil {
		return nil, err
	}
	out := make([]bson.D, 0, len(a))
	for i, e := range a {
		d, err := argDoc(cmd, fmt.Sprintf("%s.%d", path, i), e)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// argString reads a string-valued field.
func argString(cmd, path string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", wrongType(cmd, path, v, "string")
	}
	return s, nil
}

// argBool reads a boolean field. Like MongoDB's "safeBool" it also takes
// numbers (non-zero is true) and null (false).
func argBool(cmd, path string, v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	if mql.IsNumber(v) {
		f, _ := mql.ToFloat(v)
		return f != 0, nil
	}
	return false, wrongType(cmd, path, v, "bool")
}

// argInt64 reads an integer field given as any BSON number with no
// fractional part.
func argInt64(cmd, path string, v any) (int64, error) {
	if !mql.IsNumber(v) {
		return 0, wrongType(cmd, path, v, "long")
	}
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f)) {
		return 0, cmdError(codeFailedToParse, "FailedToParse", "BSON field '%s.%s' must be an integer, got %v", cmd, path, f)
	}
	n, ok := mql.ToInt64(v)
	if !ok {
		return 0, cmdError(codeFailedToParse, "FailedToParse", "BSON field '%s.%s' is out of range: %v", cmd, path, v)
	}
	return n, nil
}

// argNonNegative reads an integer field that must be >= 0.
func argNonNegative(cmd, path string, v any) (int64, error) {
	n, err := argInt64(cmd, path, v)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, cmdError(codeNonNegative, "Location51024", "BSON field '%s' value must be >= 0, actual value '%d'", path, n)
	}
	return n, nil
}

// collectionArg reads the collection name from the command's first field.
func collectionArg(req *request) (string, error) {
	if len(req.Body) == 0 {
		return "", cmdError(codeFailedToParse, "FailedToParse", "empty command document")
	}
	name, ok := req.Body[0].Value.(string)
	if !ok {
		return "", cmdError(codeInvalidNamespace, "InvalidNamespace",
			"collection name has invalid type %s", typeName(req.Body[0].Value))
	}
	if err := validCollectionName(req.DB, name); err != nil {
		return "", err
	}
	return name, nil
}

func validCollectionName(db, name string) error {
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
		strings.ContainsRune(name, 0) || strings.Contains(name, "$") && !strings.HasPrefix(name, "$cmd") {
		return cmdError(codeInvalidNamespace, "InvalidNamespace", "Invalid namespace specified '%s.%s'", db, name)
	}
	return nil
}

// checkCollation validates a collation option (see collationArg).
func checkCollation(cmd string, v any) error {
	_, err := collationArg(cmd, v)
	return err
}

// rejectLet refuses "let" variables on commands whose evaluation cannot
// receive them here; an empty document is harmless.
func rejectLet(cmd string, v any) error {
	d, err := argOptDoc(cmd, "let", v)
	if err != nil {
		return err
	}
	if len(d) > 0 {
		return notSupported("BSON field '%s.let'", cmd)
	}
	return nil
}

// rejectTrue refuses a boolean option when it is set.
func rejectTrue(cmd, path string, v any) error {
	b, err := argBool(cmd, path, v)
	if err != nil {
		return err
	}
	if b {
		return notSupported("BSON field '%s.%s' set to true", cmd, path)
	}
	return nil
}

// notInTxn refuses catalog commands inside a multi-document transaction.
func notInTxn(req *request) error {
	if req.Txn != nil {
		return cmdError(codeOperationNotSupportedInTransaction, "OperationNotSupportedInTransaction",
			"Cannot run '%s' in a multi-document transaction.", req.Name)
	}
	return nil
}

// collectionArgOutsideTxn is collectionArg for the commands MongoDB refuses
// inside a transaction (catalog, index, count, stats), checking the
// transaction first, as MongoDB does.
func collectionArgOutsideTxn(req *request) (string, error) {
	if err := notInTxn(req); err != nil {
		return "", err
	}
	return collectionArg(req)
}

// nsOf is the namespace of collection coll in the request's database.
func nsOf(req *request, coll string) engine.Namespace {
	return engine.Namespace{DB: req.DB, Coll: coll}
}

// codedError extracts code, code name, message and labels from an error the
// engine or mql returned; ok is false for other (internal) errors.
func codedError(err error) (code int32, codeName, msg string, ee *engine.Error, ok bool) {
	var me *mql.Error
	if errors.As(err, &me) {
		return me.Code, me.CodeName, me.Message, nil, true
	}
	if errors.As(err, &ee) {
		return ee.Code, ee.CodeName, ee.Message, ee, true
	}
	return 0, "", "", nil, false
}

// writeError turns the error of statement index into a writeErrors entry.
// ok is false when the error must fail the whole command instead: internal
// errors and errors carrying labels (a transaction's WriteConflict), which
// MongoDB reports as top-level command errors.
func writeError(index int, err error) (bson.D, bool) {
	var se statementError
	if errors.As(err, &se) {
		d := bson.D{{Key: "index", Value: int32(index)}, {Key: "code", Value: se.Code}, {Key: "errmsg", Value: se.Message}}
		return append(d, se.Extra...), true
	}
	code, _, msg, ee, ok := codedError(err)
	if !ok || (ee != nil && len(ee.Labels) > 0) {
		return nil, false
	}
	d := bson.D{{Key: "index", Value: int32(index)}, {Key: "code", Value: code}}
	if ee != nil && ee.KeyPattern != nil {
		d = append(d, bson.E{Key: "keyPattern", Value: ee.KeyPattern}, bson.E{Key: "keyValue", Value: ee.KeyValue})
	}
	d = append(d, bson.E{Key: "errmsg", Value: msg})
	if ee != nil && ee.ErrInfo != nil {
		d = append(d, bson.E{Key: "errInfo", Value: ee.ErrInfo})
	}
	return d, true
}

// toRaw marshals documents for a cursor; one too large for a reply is
// 10334 BSONObjectTooLarge.
func toRaw(docs []bson.D) ([]bson.Raw, error) {
	out := make([]bson.Raw, len(docs))
	for i, d := range docs {
		b, err := bson.Marshal(d)
		if err != nil {
			return nil, err
		}
		if err := checkDocSize(b, d); err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
