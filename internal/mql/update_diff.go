package mql

import (
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// uDiff describes how post differs from pre the way the server's document
// differ (doc_diff.cpp) does for pipeline updates, so that change events of
// pipeline updates match MongoDB's:
//   - fields are walked in parallel while names line up; a pre field whose
//     name does not line up is removed unless it reappears later in post,
//     and every post field after the first mismatch is reported as updated
//     (the server re-inserts it at the end);
//   - two documents, or two arrays, under the same name are diffed
//     recursively; any other change reports the new value at that path;
//   - arrays are compared index by index, elements past the old length are
//     reported at their index, and an array that got shorter is reported in
//     truncatedArrays with its new size.
func uDiff(pre, post bson.D) *UpdateDescription {
	desc := &UpdateDescription{}
	uDiffDocs(desc, "", pre, post)
	return desc
}

func uJoinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func uDiffDocs(desc *UpdateDescription, prefix string, pre, post bson.D) {
	i, j := 0, 0
	var deletes []string
	for i < len(pre) && j < len(post) {
		if pre[i].Key == post[j].Key {
			uDiffValues(desc, uJoinPath(prefix, post[j].Key), pre[i].Value, post[j].Value)
			i++
			j++
			continue
		}
		deletes = append(deletes, pre[i].Key)
		i++
	}
	for ; i < len(pre); i++ {
		deletes = append(deletes, pre[i].Key)
	}
	for ; j < len(post); j++ {
		deletes = slices.DeleteFunc(deletes, func(k string) bool { return k == post[j].Key })
		desc.UpdatedFields = append(desc.UpdatedFields, Field{Path: uJoinPath(prefix, post[j].Key), Value: post[j].Value})
	}
	slices.Sort(deletes)
	for _, k := range deletes {
		desc.RemovedFields = append(desc.RemovedFields, uJoinPath(prefix, k))
	}
}

func uDiffValues(desc *UpdateDescription, path string, pre, post any) {
	switch x := pre.(type) {
	case bson.D:
		if y, ok := post.(bson.D); ok {
			uDiffDocs(desc, path, x, y)
			return
		}
	case bson.A:
		if y, ok := post.(bson.A); ok {
			uDiffArrays(desc, path, x, y)
			return
		}
	}
	if !uIdentical(pre, post) {
		desc.UpdatedFields = append(desc.UpdatedFields, Field{Path: path, Value: post})
	}
}

func uDiffArrays(desc *UpdateDescription, path string, pre, post bson.A) {
	n := min(len(pre), len(post))
	for i := 0; i < n; i++ {
		uDiffValues(desc, path+"."+strconv.Itoa(i), pre[i], post[i])
	}
	for i := n; i < len(post); i++ {
		desc.UpdatedFields = append(desc.UpdatedFields, Field{Path: path + "." + strconv.Itoa(i), Value: post[i]})
	}
	if len(pre) > len(post) {
		desc.TruncatedArrays = append(desc.TruncatedArrays, TruncatedArray{Field: path, NewSize: int32(len(post))})
	}
}
