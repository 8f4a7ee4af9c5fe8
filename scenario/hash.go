package scenario

// hash.go fingerprints a scenario file for results files
// (meta.scenario_hash), so `wsbench report` can refuse to merge the results
// of different scenarios.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/goccy/go-yaml"
)

// HashFile returns the sha256 (hex) of the scenario file at path,
// normalized: the YAML is decoded and encoded again as JSON with sorted
// keys, so comments, key order, quoting, anchors and layout do not change
// the hash, while any change of a value does.
func HashFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read scenario: %w", err)
	}
	return HashSource(data), nil
}

// HashSource is HashFile of a file's contents. Contents that are not YAML
// are hashed as they are.
func HashSource(data []byte) string {
	var v any
	norm := data
	if err := yaml.Unmarshal(data, &v); err == nil {
		if b, err := json.Marshal(v); err == nil {
			norm = b
		}
	}
	sum := sha256.Sum256(norm)
	return hex.EncodeToString(sum[:])
}
