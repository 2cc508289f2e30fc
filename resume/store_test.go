package resume_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mongotide/mongotide/resume"
	"github.com/mongotide/mongotide/resume/resumetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	resumetest.Run(t, func(t *testing.T) (resume.Store, resumetest.CorruptFunc) {
		s := resume.NewMemoryStore()
		return s, func(t *testing.T, key string, raw []byte) { resume.PutRawForTest(s, key, raw) }
	})
}

func TestFileStoreConformance(t *testing.T) {
	resumetest.Run(t, func(t *testing.T) (resume.Store, resumetest.CorruptFunc) {
		s, err := resume.NewFileStore(filepath.Join(t.TempDir(), "tokens"))
		if err != nil {
			t.Fatal(err)
		}
		return s, func(t *testing.T, key string, raw []byte) {
			if err := os.WriteFile(s.Path(key), raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestFileStoreLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := resume.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := s.Save(t.Context(), "Books/Indexer", resumetest.Token(i)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	want := "%42ooks%2F%49ndexer.token"
	if len(names) != 1 || names[0] != want {
		t.Fatalf("directory holds %v, want exactly [%s]", names, want)
	}
}

func TestNewFileStoreRejectsEmptyDir(t *testing.T) {
	if _, err := resume.NewFileStore(""); err == nil {
		t.Fatal("NewFileStore(\"\") succeeded")
	}
}
