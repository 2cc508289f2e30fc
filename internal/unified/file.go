package unified

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// SupportedSchemaVersion is the newest unified-format schema version whose
// features this runner implements. Files of the same major version with a newer
// minor are still run: every field, entity option, operation and argument the
// runner does not know turns the test into a skip naming it, so nothing is
// silently ignored.
const SupportedSchemaVersion = "1.7"

// File is one parsed unified-format test file.
type File struct {
	// Path is the file's path relative to the directory it was found in
	// (forward slashes), e.g. "crud/find.json". It names the file in results.
	Path string
	// Description is the file's top-level description.
	Description string
	// SchemaVersion is the file's schemaVersion string.
	SchemaVersion string

	runOn          []bson.D
	createEntities []bson.D
	initialData    []bson.D
	tests          []bson.D
	// unsupported is set when the whole file cannot be run (a newer major
	// schema version, an unknown top-level field); every test is then skipped
	// with this reason.
	unsupported string
}

// Tests returns the descriptions of the file's tests, in file order. Index i
// of this slice is the test index accepted by Runner.RunTest.
func (f *File) Tests() []string {
	out := make([]string, len(f.tests))
	for i, t := range f.tests {
		out[i] = str(t, "description")
	}
	return out
}

// LoadFile reads and parses one test file. rel is the name it is reported
// under (normally its path relative to the spec directory).
func LoadFile(path, rel string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unified: read test file: %w", err)
	}
	return ParseFile(data, rel)
}

// ParseFile parses a unified-format test file from relaxed or canonical
// Extended JSON.
func ParseFile(data []byte, rel string) (*File, error) {
	var doc bson.D
	if err := bson.UnmarshalExtJSON(data, false, &doc); err != nil {
		return nil, fmt.Errorf("unified: %s: parse extended JSON: %w", rel, err)
	}
	f := &File{Path: filepath.ToSlash(rel)}
	for _, e := range doc {
		var err error
		switch e.Key {
		case "description":
			f.Description, _ = e.Value.(string)
		case "schemaVersion":
			f.SchemaVersion, _ = e.Value.(string)
		case "runOnRequirements":
			f.runOn, err = docList(e.Value, "runOnRequirements")
		case "createEntities":
			f.createEntities, err = docList(e.Value, "createEntities")
		case "initialData":
			f.initialData, err = docList(e.Value, "initialData")
		case "tests":
			f.tests, err = docList(e.Value, "tests")
		case "_yamlAnchors":
		default:
			if f.unsupported == "" {
				f.unsupported = fmt.Sprintf("unsupported top-level field %q", e.Key)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("unified: %s: %w", rel, err)
		}
	}
	if f.SchemaVersion == "" {
		return nil, fmt.Errorf("unified: %s: missing schemaVersion", rel)
	}
	if len(f.tests) == 0 {
		return nil, fmt.Errorf("unified: %s: no tests", rel)
	}
	if reason := checkSchemaVersion(f.SchemaVersion); reason != "" {
		f.unsupported = reason
	}
	return f, nil
}

// checkSchemaVersion returns a skip reason for a schema version this runner
// must not process, or "".
func checkSchemaVersion(v string) string {
	got, err := parseVersion(v)
	if err != nil {
		return fmt.Sprintf("malformed schemaVersion %q", v)
	}
	want, _ := parseVersion(SupportedSchemaVersion)
	if got[0] != want[0] {
		return fmt.Sprintf("schemaVersion %s not supported (runner supports %d.x up to %s)", v, want[0], SupportedSchemaVersion)
	}
	return ""
}

// FindFiles returns the paths, relative to dir and sorted, of every .json
// file under dir.
func FindFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unified: list spec files in %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("unified: no .json test files under %s", dir)
	}
	sort.Strings(out)
	return out, nil
}

// parseVersion parses "4.3.1" into numeric components.
func parseVersion(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("empty version")
	}
	parts := strings.Split(s, ".")
	out := make([]int, len(parts))
	for i, p := range parts {
		// Server versions may carry suffixes such as "7.0.0-rc1".
		if j := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			p = p[:j]
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("version %q: %w", s, err)
		}
		out[i] = n
	}
	return out, nil
}

// compareVersions compares component-wise; missing components count as 0.
func compareVersions(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func docList(v any, field string) ([]bson.D, error) {
	arr, ok := v.(bson.A)
	if !ok {
		return nil, fmt.Errorf("%s: want an array, got %T", field, v)
	}
	out := make([]bson.D, len(arr))
	for i, x := range arr {
		d, ok := x.(bson.D)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: want a document, got %T", field, i, x)
		}
		out[i] = d
	}
	return out, nil
}

// lookup returns the value of key in d.
func lookup(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

func str(d bson.D, key string) string {
	v, _ := lookup(d, key)
	s, _ := v.(string)
	return s
}

func subdoc(d bson.D, key string) bson.D {
	v, _ := lookup(d, key)
	s, _ := v.(bson.D)
	return s
}
