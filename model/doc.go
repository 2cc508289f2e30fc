// Package model is mongotide's typed, Esix-style API over one collection:
// a small CRUD surface and change listeners.
//
//	books := model.New[Book](db.Collection("books"))
//	id, err := books.Create(ctx, Book{Title: "Dune"})
//	sub, err := books.ListenForChanges(ctx,
//		func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error { ... },
//		listen.WithResumeStore(store, "books-indexer"))
//
// Listeners follow the lifecycle of package listen: ctx bounds the start
// only, and a subscription runs until Unsubscribe (or Stop(ctx)).
//
// All listeners of one Model share server change streams (see listen.Hub):
// a thousand listeners with the same server-side options cost one cursor.
package model
