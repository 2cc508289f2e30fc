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
	d := &uDiffer{desc: &UpdateDescription{}}
	d.docs("", pre, post)
	d.desc.UpdatedFields = uOrderFields(post, d.desc.UpdatedFields, d.created)
	return d.desc
}

type uDiffer struct {
	desc    *UpdateDescription
	created []bool
}

func (d *uDiffer) update(path string, v any, created bool) {
	d.desc.UpdatedFields = append(d.desc.UpdatedFields, Field{Path: path, Value: v})
	d.created = append(d.created, created)
}

func uJoinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (d *uDiffer) docs(prefix string, pre, post bson.D) {
	i, j := 0, 0
	var deletes []string
	for i < len(pre) && j < len(post) {
		if pre[i].Key == post[j].Key {
			d.values(uJoinPath(prefix, post[j].Key), pre[i].Value, post[j].Value)
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
		d.update(uJoinPath(prefix, post[j].Key), post[j].Value, true)
	}
	slices.Sort(deletes)
	for _, k := range deletes {
		d.desc.RemovedFields = append(d.desc.RemovedFields, uJoinPath(prefix, k))
	}
}

func (d *uDiffer) values(path string, pre, post any) {
	switch x := pre.(type) {
	case bson.D:
		if y, ok := post.(bson.D); ok {
			d.docs(path, x, y)
			return
		}
	case bson.A:
		if y, ok := post.(bson.A); ok {
			d.arrays(path, x, y)
			return
		}
	}
	if !uIdentical(pre, post) {
		d.update(path, post, false)
	}
}

func (d *uDiffer) arrays(path string, pre, post bson.A) {
	n := min(len(pre), len(post))
	for i := 0; i < n; i++ {
		d.values(path+"."+strconv.Itoa(i), pre[i], post[i])
	}
	for i := n; i < len(post); i++ {
		d.update(path+"."+strconv.Itoa(i), post[i], false)
	}
	if len(pre) > len(post) {
		d.desc.TruncatedArrays = append(d.desc.TruncatedArrays, TruncatedArray{Field: path, NewSize: int32(len(post))})
	}
}
