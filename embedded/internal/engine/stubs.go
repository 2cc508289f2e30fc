package engine

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Engine is the storage engine. It is safe for concurrent use.
type Engine struct{}

// Txn is a multi-document transaction. It is not safe for concurrent use
// (a session runs one command at a time).
type Txn struct{}

var errTODO = errors.New("engine: not implemented yet")

func open(Options) (*Engine, error)                                   { return &Engine{}, nil }
func (e *Engine) close() error                                        { return nil }
func (e *Engine) clusterTime() bson.Timestamp                         { return bson.Timestamp{} }
func (e *Engine) createCollection(Namespace, CollectionOptions) error { return errTODO }
func (e *Engine) dropCollection(Namespace) (bool, error)              { return false, errTODO }
func (e *Engine) dropDatabase(string) error                           { return errTODO }
func (e *Engine) renameCollection(_, _ Namespace, _ bool) error       { return errTODO }
func (e *Engine) listDatabases() []DatabaseInfo                       { return nil }
func (e *Engine) listCollections(string) []CollectionInfo             { return nil }
func (e *Engine) collectionInfo(Namespace) (CollectionInfo, bool)     { return CollectionInfo{}, false }
func (e *Engine) collMod(Namespace, CollModArgs) error                { return errTODO }
func (e *Engine) listIndexes(Namespace) ([]IndexSpec, error)          { return nil, errTODO }
func (e *Engine) dropIndexes(Namespace, []string) (int, error)        { return 0, errTODO }
func (e *Engine) dropIndexByKey(Namespace, bson.D) (int, error)       { return 0, errTODO }
func (e *Engine) begin(TxnMeta) *Txn                                  { return &Txn{} }
func (t *Txn) commit() (bson.Timestamp, error)                        { return bson.Timestamp{}, errTODO }
func (t *Txn) abort()                                                 {}
func (e *Engine) oplogRead(Position, int) ([]Entry, error)            { return nil, errTODO }
func (e *Engine) oplogFirst() Position                                { return Position{} }
func (e *Engine) oplogLast() Position                                 { return Position{} }
func (e *Engine) oplogNotify() <-chan struct{}                        { return make(chan struct{}) }
func (e *Engine) estimatedCount(Namespace) int64                      { return 0 }
func (e *Engine) createIndexes(Namespace, []IndexSpec) (CreateIndexesResult, error) {
	return CreateIndexesResult{}, errTODO
}

func (e *Engine) Insert(Namespace, bson.D) (any, error)                { return nil, errTODO }
func (e *Engine) Update(Namespace, UpdateArgs) (UpdateResult, error)   { return UpdateResult{}, errTODO }
func (e *Engine) Delete(Namespace, bson.D, int) (int64, error)         { return 0, errTODO }
func (e *Engine) Find(Namespace, FindArgs) ([]bson.Raw, error)         { return nil, errTODO }
func (e *Engine) FindByID(Namespace, any) (bson.Raw, bool)             { return nil, false }
func (e *Engine) Count(Namespace, CountArgs) (int64, error)            { return 0, errTODO }
func (e *Engine) Distinct(Namespace, string, bson.D) ([]any, error)    { return nil, errTODO }
func (e *Engine) Aggregate(Namespace, AggregateArgs) ([]bson.D, error) { return nil, errTODO }
func (e *Engine) FindAndModify(Namespace, FindAndModifyArgs) (FindAndModifyResult, error) {
	return FindAndModifyResult{}, errTODO
}

func (t *Txn) Insert(Namespace, bson.D) (any, error)                { return nil, errTODO }
func (t *Txn) Update(Namespace, UpdateArgs) (UpdateResult, error)   { return UpdateResult{}, errTODO }
func (t *Txn) Delete(Namespace, bson.D, int) (int64, error)         { return 0, errTODO }
func (t *Txn) Find(Namespace, FindArgs) ([]bson.Raw, error)         { return nil, errTODO }
func (t *Txn) FindByID(Namespace, any) (bson.Raw, bool)             { return nil, false }
func (t *Txn) Count(Namespace, CountArgs) (int64, error)            { return 0, errTODO }
func (t *Txn) Distinct(Namespace, string, bson.D) ([]any, error)    { return nil, errTODO }
func (t *Txn) Aggregate(Namespace, AggregateArgs) ([]bson.D, error) { return nil, errTODO }
func (t *Txn) FindAndModify(Namespace, FindAndModifyArgs) (FindAndModifyResult, error) {
	return FindAndModifyResult{}, errTODO
}
