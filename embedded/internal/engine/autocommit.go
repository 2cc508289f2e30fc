package engine

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The *Engine implementation of Ops: every document write is its own
// commit. Writes hold the engine lock for the whole statement; reads take a
// copy-on-write snapshot of the collection's B-tree and scan it unlocked.

func (e *Engine) writeOp(fn func(st *opState) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	return fn(&opState{e: e, colls: e.colls})
}

// readTree returns a B-tree of ns that no writer will mutate (nil when the
// collection does not exist).
func (e *Engine) readTree(ns Namespace) (view, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return view{}, ErrClosed
	}
	c := e.colls[ns]
	if c == nil {
		return view{}, nil
	}
	return c.snapshotView(), nil
}

// Insert implements Ops.
func (e *Engine) Insert(ns Namespace, doc bson.D) (id any, err error) {
	err = e.writeOp(func(st *opState) error {
		id, err = st.insert(ns, doc)
		return err
	})
	return id, err
}

// Update implements Ops.
func (e *Engine) Update(ns Namespace, args UpdateArgs) (res UpdateResult, err error) {
	err = e.writeOp(func(st *opState) error {
		res, err = st.update(ns, args)
		return err
	})
	return res, err
}

// Delete implements Ops.
func (e *Engine) Delete(ns Namespace, filter bson.D, limit int) (n int64, err error) {
	err = e.writeOp(func(st *opState) error {
		n, err = st.delete(ns, filter, limit)
		return err
	})
	return n, err
}

// FindAndModify implements Ops.
func (e *Engine) FindAndModify(ns Namespace, args FindAndModifyArgs) (res FindAndModifyResult, err error) {
	err = e.writeOp(func(st *opState) error {
		res, err = st.findAndModify(ns, args)
		return err
	})
	return res, err
}

// Find implements Ops.
func (e *Engine) Find(ns Namespace, args FindArgs) ([]bson.Raw, error) {
	if id, ok := idEquality(args.Filter); ok && len(args.Projection) == 0 && args.Skip == 0 {
		// point lookup: no snapshot needed
		e.mu.RLock()
		defer e.mu.RUnlock()
		if e.closed {
			return nil, ErrClosed
		}
		c := e.colls[ns]
		if c == nil {
			return nil, nil
		}
		rec, found := c.get(id)
		if !found {
			return nil, nil
		}
		return []bson.Raw{rec.raw}, nil
	}
	tree, err := e.readTree(ns)
	if err != nil {
		return nil, err
	}
	return findTree(tree, args)
}

// FindByID implements Ops.
func (e *Engine) FindByID(ns Namespace, id any) (bson.Raw, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.colls[ns]
	if c == nil || e.closed {
		return nil, false
	}
	return findByIDTree(c.view(), id)
}

// Count implements Ops.
func (e *Engine) Count(ns Namespace, args CountArgs) (int64, error) {
	if len(args.Filter) == 0 {
		e.mu.RLock()
		defer e.mu.RUnlock()
		if e.closed {
			return 0, ErrClosed
		}
		var v view
		if c := e.colls[ns]; c != nil {
			v = c.view()
		}
		return countTree(v, args)
	}
	tree, err := e.readTree(ns)
	if err != nil {
		return 0, err
	}
	return countTree(tree, args)
}

// Distinct implements Ops.
func (e *Engine) Distinct(ns Namespace, key string, filter bson.D) ([]any, error) {
	tree, err := e.readTree(ns)
	if err != nil {
		return nil, err
	}
	return distinctTree(tree, key, filter)
}

// Aggregate implements Ops.
func (e *Engine) Aggregate(ns Namespace, args AggregateArgs) ([]bson.D, error) {
	tree, err := e.readTree(ns)
	if err != nil {
		return nil, err
	}
	return aggregateTree(tree, args, e.pipelineVars(args.Vars))
}

func (e *Engine) pipelineVars(extra map[string]any) map[string]any {
	vars := make(map[string]any, len(extra)+2)
	for k, v := range extra {
		vars[k] = v
	}
	vars["NOW"] = bson.NewDateTimeFromTime(e.now())
	vars["CLUSTER_TIME"] = e.clusterTime()
	return vars
}
