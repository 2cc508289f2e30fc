package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The packages a README snippet may use, by the name it uses them under.
var snippetImports = map[string]string{
	"context":  "context",
	"fmt":      "fmt",
	"log":      "log",
	"time":     "time",
	"bson":     "go.mongodb.org/mongo-driver/v2/bson",
	"mongo":    "go.mongodb.org/mongo-driver/v2/mongo",
	"options":  "go.mongodb.org/mongo-driver/v2/mongo/options",
	"embedded": "github.com/mongotide/mongotide/embedded",
	"model":    "github.com/mongotide/mongotide/model",
	"listen":   "github.com/mongotide/mongotide/listen",
	"resume":   "github.com/mongotide/mongotide/resume",
	"sync":     "github.com/mongotide/mongotide/sync",
}

// goBlocks returns the ```go blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(md, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// program turns a snippet into a compilable file: its top-level
// declarations (lines from `type`/`func` to the closing brace at column 0)
// stay at the top level, every other line becomes the body of a function
// with a ctx in scope that returns an error.
func program(snippet string) string {
	var decls, body strings.Builder
	inDecl := false
	for _, line := range strings.Split(snippet, "\n") {
		switch {
		case inDecl:
			decls.WriteString(line + "\n")
			if line == "}" || line == ")" {
				inDecl = false
			}
		case strings.HasPrefix(line, "type ") || strings.HasPrefix(line, "func "):
			decls.WriteString(line + "\n")
			inDecl = strings.HasSuffix(line, "{") || strings.HasSuffix(line, "(")
		default:
			body.WriteString("\t" + line + "\n")
		}
	}
	var imports []string
	for name, path := range snippetImports {
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(snippet) {
			imports = append(imports, `"`+path+`"`)
		}
	}
	if !strings.Contains(strings.Join(imports, ""), `"context"`) {
		imports = append(imports, `"context"`)
	}
	return "package main\n\nimport (\n\t" + strings.Join(imports, "\n\t") + "\n)\n\n" +
		decls.String() + "\nfunc quickStart(ctx context.Context) error {\n" + body.String() + "\treturn nil\n}\n\n" +
		"func main() { _ = quickStart(context.Background()) }\n"
}

// Every Go block of README.md compiles (and passes vet) against this tree.
func TestREADMEGoBlocksCompile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(md))
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block")
	}
	// Inside the module (under testdata, which ./... skips) so that the
	// snippet's imports resolve to this tree.
	if err := os.MkdirAll(filepath.Join(root, "internal", "readme", "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		dir, err := os.MkdirTemp(filepath.Join(root, "internal", "readme", "testdata"), "block")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		src := program(b)
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, dir)
		cmd := exec.Command("go", "vet", "./"+filepath.ToSlash(rel))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README Go block %d does not compile: %v\n%s\nprogram:\n%s", i+1, err, out, src)
		}
	}
}
