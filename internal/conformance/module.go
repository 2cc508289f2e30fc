package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// driverModule is the official driver module whose test suites are run. Its
// version is the one the project's go.mod requires (see driverVersion).
const driverModule = "go.mongodb.org/mongo-driver/v2"

// driverVersion asks the go command for the driver version go.mod requires,
// so that the suites are those of the driver the project is built with.
func driverVersion(ctx context.Context, repo string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", driverModule)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", driverModule, commandError(err))
	}
	return string(bytes.TrimSpace(out)), nil
}

// downloadDriver returns the module cache directory of the driver at
// version, downloading it through the module proxy when it is missing.
func downloadDriver(ctx context.Context, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", driverModule+"@"+version)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", driverModule, version, commandError(err))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download -json: %w", err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", driverModule, version, info.Error)
	}
	return info.Dir, nil
}

// copyDriver copies the read-only module cache directory src to dst
// (CopyFS creates writable files and directories, so the copy can be
// removed afterwards), and links dst's
// testdata/specifications/source to specDir, where the driver's spectest
// package looks for the spec JSON.
func copyDriver(src, dst, specDir string) error {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return fmt.Errorf("copy driver module: %w", err)
	}
	specs := filepath.Join(dst, "testdata", "specifications")
	if err := os.MkdirAll(specs, 0o755); err != nil {
		return err
	}
	return os.Symlink(specDir, filepath.Join(specs, "source"))
}

// commandError adds a failed command's stderr to its error.
func commandError(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
