package embedded

import "go.mongodb.org/mongo-driver/v2/bson"

// apiStrictStages are the aggregation stages this server implements that
// are outside Stable API version 1: with apiStrict: true mongod refuses them
// (diagnostic and Atlas-only stages).
var apiStrictStages = map[string]bool{
	"$collStats": true, "$currentOp": true, "$indexStats": true, "$listLocalSessions": true,
	"$listSessions": true, "$planCacheStats": true, "$listSearchIndexes": true, "$search": true,
	"$searchMeta": true, "$listCatalog": true, "$listClusterCatalog": true,
}

// checkAPIStrictStages refuses, under apiStrict: true, an aggregate whose
// pipeline (or a $facet, $lookup or $unionWith sub-pipeline) uses a stage
// outside API version 1, with mongod's 323 APIStrictError.
func checkAPIStrictStages(req *request) *commandError {
	if req.Name != "aggregate" {
		return nil
	}
	p, _ := lookup(req.Body, "pipeline")
	return apiStrictPipeline(p)
}

func apiStrictPipeline(p any) *commandError {
	stages, _ := p.(bson.A)
	for _, st := range stages {
		d, ok := st.(bson.D)
		if !ok || len(d) == 0 {
			continue
		}
		name := d[0].Key
		if apiStrictStages[name] {
			return errorf(323, "APIStrictError", "%s is not allowed with 'apiStrict: true' in API Version 1", name)
		}
		spec, _ := d[0].Value.(bson.D)
		switch name {
		case "$lookup", "$unionWith":
			sub, _ := lookup(spec, "pipeline")
			if ce := apiStrictPipeline(sub); ce != nil {
				return ce
			}
		case "$facet":
			for _, e := range spec {
				if ce := apiStrictPipeline(e.Value); ce != nil {
					return ce
				}
			}
		}
	}
	return nil
}
