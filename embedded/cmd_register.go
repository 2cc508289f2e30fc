package embedded

// registerCommands adds the data and catalog commands to r. The server
// core registers its own commands (hello, getMore, transactions, ...) first.
func (s *Server) registerCommands(r map[string]handler) {
	for name, h := range map[string]handler{
		"insert":           cmdInsert,
		"update":           cmdUpdate,
		"delete":           cmdDelete,
		"find":             cmdFind,
		"findAndModify":    cmdFindAndModify,
		"findandmodify":    cmdFindAndModify,
		"count":            cmdCount,
		"distinct":         cmdDistinct,
		"aggregate":        cmdAggregate,
		"create":           cmdCreate,
		"collMod":          cmdCollMod,
		"createIndexes":    cmdCreateIndexes,
		"listIndexes":      cmdListIndexes,
		"dropIndexes":      cmdDropIndexes,
		"deleteIndexes":    cmdDropIndexes,
		"listCollections":  cmdListCollections,
		"listDatabases":    cmdListDatabases,
		"drop":             cmdDrop,
		"dropDatabase":     cmdDropDatabase,
		"renameCollection": cmdRenameCollection,
		"dbStats":          cmdDBStats,
		"dbstats":          cmdDBStats,
		"collStats":        cmdCollStats,
		"collstats":        cmdCollStats,
		"explain":          cmdExplain,
		"bulkWrite":        cmdBulkWrite,
	} {
		r[name] = h
	}
}
