package routing

// File is one routing input already in memory: a display name for
// positions and its bytes (multi-document YAML).
type File struct {
	Name string
	Data []byte
}

// ParseFiles is Parse for several inputs read together, as Load reads
// several paths: objects in one may refer to objects in another. Fault
// proofs parse mutated copies of an input this way.
func ParseFiles(files []File, opts ...Option) (*Input, error) {
	o := newOptions(opts)
	l := newLoader(o)
	for _, f := range files {
		if int64(len(f.Data)) > o.maxBytes {
			l.problems.Add(Position{File: f.Name}, "input is larger than the limit of %s", sizeString(o.maxBytes))
			continue
		}
		l.parse(f.Name, f.Data)
	}
	return l.finish()
}
