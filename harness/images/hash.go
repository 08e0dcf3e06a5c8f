package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// hasher accumulates named inputs into a content hash. Inputs are sorted by
// key, so the order in which a step declares them does not matter.
type hasher struct {
	entries map[string]string
}

func newHasher() *hasher { return &hasher{entries: map[string]string{}} }

// value adds a named value.
func (h *hasher) value(key string, v ...string) {
	h.entries["v:"+key] = strings.Join(v, "\x00")
}

// file adds the content of a file under a stable name.
func (h *hasher) file(name, path string) error {
	sum, err := fileSum(path)
	if err != nil {
		return err
	}
	h.entries["f:"+name] = sum
	return nil
}

// tree adds every regular file and symlink under root, named relative to it,
// with its mode. A missing root adds nothing.
func (h *hasher) tree(name, root string) error {
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %q: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		key := "t:" + name + "/" + filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %q: %w", p, err)
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("read link %q: %w", p, err)
			}
			h.entries[key] = "link:" + target
		case d.Type().IsRegular():
			sum, err := fileSum(p)
			if err != nil {
				return err
			}
			h.entries[key] = fmt.Sprintf("%o:%s", info.Mode().Perm()&0o111, sum)
		}
		return nil
	})
}

// sum returns the hex SHA-256 of all inputs.
func (h *hasher) sum() string {
	keys := make([]string, 0, len(h.entries))
	for k := range h.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(s, "%s\x00%s\x00", k, h.entries[k])
	}
	return hex.EncodeToString(s.Sum(nil))
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %q: %w", path, err)
	}
	defer f.Close()
	s := sha256.New()
	if _, err := io.Copy(s, f); err != nil {
		return "", fmt.Errorf("hash %q: %w", path, err)
	}
	return hex.EncodeToString(s.Sum(nil)), nil
}

func short(hash string) string { return hash[:12] }
