package embedded

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// codeSearchNotEnabled is SearchNotEnabled (31082), what a mongod without
// a search process (anything but Atlas or an Atlas CLI local deployment)
// answers to the search-index commands and search stages.
const codeSearchNotEnabled int32 = 31082

// errSearchIndexCommands is mongod's refusal of the search-index commands
// and $listSearchIndexes outside Atlas.
func errSearchIndexCommands() error {
	return cmdError(codeSearchNotEnabled, "SearchNotEnabled",
		"Using Atlas Search Database Commands and the $listSearchIndexes aggregation stage requires additional configuration. "+
			"Please connect to Atlas or an AtlasCLI local deployment to enable. "+
			"For more information on how to connect, see https://dochub.mongodb.org/core/atlas-cli-deploy-local-reqs")
}

// errSearchStages is mongod's refusal of $search, $searchMeta and
// $vectorSearch outside Atlas.
func errSearchStages() error {
	return cmdError(codeSearchNotEnabled, "SearchNotEnabled",
		"Using $search and $vectorSearch aggregation stages requires additional configuration. "+
			"Please connect to Atlas or an AtlasCLI local deployment to enable. "+
			"For more information on how to connect, see https://dochub.mongodb.org/core/atlas-cli-deploy-local-reqs")
}

// cmdSearchIndexes answers createSearchIndexes, updateSearchIndex and
// dropSearchIndex as a mongod outside Atlas does.
func cmdSearchIndexes(_ context.Context, _ *Server, req *request) (bson.D, error) {
	if _, err := collectionArg(req); err != nil {
		return nil, err
	}
	return nil, errSearchIndexCommands()
}

// refuseSearchStages fails a pipeline that uses Atlas Search stages.
func refuseSearchStages(pipeline []bson.D) error {
	for _, st := range pipeline {
		if len(st) == 0 {
			continue
		}
		switch st[0].Key {
		case "$listSearchIndexes":
			return errSearchIndexCommands()
		case "$search", "$searchMeta", "$vectorSearch":
			return errSearchStages()
		}
	}
	return nil
}
