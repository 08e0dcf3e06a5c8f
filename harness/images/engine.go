package images

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ConfigureRuntime makes runtimePath, registered as name, the default OCI
// runtime in a dockerd daemon.json, keeping every other setting. It reports
// whether the file changed. It never adds "bridge" or any network setting.
func ConfigureRuntime(daemonJSON, name, runtimePath string) (bool, error) {
	cfg := map[string]any{}
	b, err := os.ReadFile(daemonJSON)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return false, fmt.Errorf("read %q: %w", daemonJSON, err)
	default:
		if err := json.Unmarshal(b, &cfg); err != nil {
			return false, fmt.Errorf("decode %q: %w", daemonJSON, err)
		}
	}
	runtimes, _ := cfg["runtimes"].(map[string]any)
	if runtimes == nil {
		if _, present := cfg["runtimes"]; present {
			return false, fmt.Errorf("configure %q: \"runtimes\" is not an object", daemonJSON)
		}
		runtimes = map[string]any{}
	}
	current, _ := runtimes[name].(map[string]any)
	if cfg["default-runtime"] == name && current != nil && current["path"] == runtimePath {
		return false, nil
	}
	runtimes[name] = map[string]any{"path": runtimePath}
	cfg["runtimes"] = runtimes
	cfg["default-runtime"] = name
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return false, fmt.Errorf("encode %q: %w", daemonJSON, err)
	}
	if err := os.MkdirAll(filepath.Dir(daemonJSON), 0o755); err != nil {
		return false, fmt.Errorf("write %q: %w", daemonJSON, err)
	}
	tmp := daemonJSON + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o644); err != nil {
		return false, fmt.Errorf("write %q: %w", daemonJSON, err)
	}
	if err := os.Rename(tmp, daemonJSON); err != nil {
		return false, fmt.Errorf("write %q: %w", daemonJSON, err)
	}
	return true, nil
}
