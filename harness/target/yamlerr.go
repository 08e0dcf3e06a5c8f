package target

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+):(?: column (\d+):)? ?(.*)$`)

// YAMLError turns an error of yaml.v3's decoder into "file:line:col:
// what": an empty file (io.EOF) is "file:1:1: the file is empty", a syntax
// error keeps the line yaml.v3 names (column 1 when it names none), and an
// error without a position is put at 1:1. what says what was being read
// ("static target").
func YAMLError(file, what string, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s:1:1: parse %s: the file is empty", file, what)
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		col := m[2]
		if col == "" {
			col = "1"
		}
		return fmt.Errorf("%s:%s:%s: parse %s: %s", file, m[1], col, what, m[3])
	}
	return fmt.Errorf("%s:1:1: parse %s: %s", file, what, strings.TrimPrefix(msg, "yaml: "))
}
