package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ymap is a YAML mapping node read with its keys checked, so that a typo in
// a bundle ("ceilng:") is a load error at its line rather than a silent
// default.
type ymap struct {
	file string
	node *yaml.Node
	vals map[string]*yaml.Node
	keys []string // in document order
}

// posError is an error at a place in a file.
type posError struct {
	file string
	line int
	msg  string
}

func (e *posError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

func errAt(file string, n *yaml.Node, format string, args ...any) *posError {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &posError{file: file, line: line, msg: fmt.Sprintf(format, args...)}
}

// resolve follows aliases and document nodes.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// asMap reads n as a mapping whose keys are among allowed (nil allows any).
func asMap(file string, n *yaml.Node, allowed []string) (*ymap, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errAt(file, n, "expected a mapping")
	}
	m := &ymap{file: file, node: n, vals: make(map[string]*yaml.Node, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Tag == "!!merge" || k.Value == "<<" {
			// Merge keys: copy the aliased mapping's entries that are not set here.
			src, err := asMap(file, n.Content[i+1], allowed)
			if err != nil {
				return nil, err
			}
			for _, kk := range src.keys {
				if _, set := m.vals[kk]; !set {
					m.vals[kk] = src.vals[kk]
					m.keys = append(m.keys, kk)
				}
			}
			continue
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, errAt(file, k, "unknown key %q (allowed: %s)", k.Value, strings.Join(allowed, ", "))
		}
		if _, dup := m.vals[k.Value]; dup {
			return nil, errAt(file, k, "key %q given twice", k.Value)
		}
		m.vals[k.Value] = n.Content[i+1]
		m.keys = append(m.keys, k.Value)
	}
	return m, nil
}

func (m *ymap) has(key string) bool { _, ok := m.vals[key]; return ok }

func (m *ymap) line(key string) int {
	if v, ok := m.vals[key]; ok {
		return v.Line
	}
	return m.node.Line
}

func (m *ymap) errf(key string, format string, args ...any) *posError {
	return &posError{file: m.file, line: m.line(key), msg: fmt.Sprintf(format, args...)}
}

// scalar returns the raw text of a scalar value.
func (m *ymap) scalar(key string, required bool) (string, error) {
	v, ok := m.vals[key]
	if !ok {
		if required {
			return "", errAt(m.file, m.node, "missing key %q", key)
		}
		return "", nil
	}
	v = resolve(v)
	if v == nil || v.Kind != yaml.ScalarNode {
		return "", m.errf(key, "%s: expected a single value", key)
	}
	return v.Value, nil
}

func (m *ymap) str(key string, required bool) (string, error) { return m.scalar(key, required) }

func (m *ymap) boolean(key string) (bool, error) {
	s, err := m.scalar(key, false)
	if err != nil || s == "" {
		return false, err
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, m.errf(key, "%s: expected true or false, got %q", key, s)
}

func (m *ymap) integer(key string, required bool) (int, error) {
	s, err := m.scalar(key, required)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, m.errf(key, "%s: expected a whole number, got %q", key, s)
	}
	return n, nil
}

func (m *ymap) date(key string, required bool) (Date, error) {
	s, err := m.scalar(key, required)
	if err != nil || s == "" {
		return 0, err
	}
	d, err := ParseDate(s)
	if err != nil {
		return 0, m.errf(key, "%s: %q is not a YYYY-MM-DD date", key, s)
	}
	return d, nil
}

// strs reads a sequence of scalars.
func (m *ymap) strs(key string) ([]string, error) {
	v, ok := m.vals[key]
	if !ok {
		return nil, nil
	}
	v = resolve(v)
	if v.Kind != yaml.SequenceNode {
		return nil, m.errf(key, "%s: expected a list", key)
	}
	out := make([]string, 0, len(v.Content))
	for _, c := range v.Content {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode {
			return nil, errAt(m.file, c, "%s: expected a list of values", key)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

// seq returns the items of a sequence value (nil if absent).
func (m *ymap) seq(key string) ([]*yaml.Node, error) {
	v, ok := m.vals[key]
	if !ok {
		return nil, nil
	}
	v = resolve(v)
	if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "") {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, m.errf(key, "%s: expected a list", key)
	}
	return v.Content, nil
}
