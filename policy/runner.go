package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"policydesk/money"
)

// CaseOutcome is the verdict on one case of a case file.
type CaseOutcome struct {
	File   string
	Name   string
	Passed bool
	Why    []string
}

// RunCaseFile evaluates every case in data and compares with its
// expectations.
func (b *Bundle) RunCaseFile(name string, data []byte) []CaseOutcome {
	parsed, err := b.ParseCases(data)
	if err != nil {
		return []CaseOutcome{{File: name, Name: "(file)", Why: []string{err.Error()}}}
	}
	out := make([]CaseOutcome, 0, len(parsed))
	for _, pc := range parsed {
		out = append(out, b.check(name, pc))
	}
	return out
}

func (b *Bundle) check(file string, pc ParsedCase) CaseOutcome {
	c := pc.Case
	o := CaseOutcome{File: file, Name: c.Name}
	if c.ExpectError != "" {
		switch {
		case pc.Err == nil:
			res, err := b.Evaluate(c)
			if ie, ok := err.(*InputError); ok && ie.Code == c.ExpectError {
				o.Passed = true
				return o
			}
			o.Why = append(o.Why, fmt.Sprintf("expected error %s, got %d result(s)", c.ExpectError, len(res)))
		case pc.Err.Code != c.ExpectError:
			o.Why = append(o.Why, fmt.Sprintf("expected error %s, got %s (%s)", c.ExpectError, pc.Err.Code, pc.Err.MessageEn))
		default:
			o.Passed = true
		}
		return o
	}
	if pc.Err != nil {
		o.Why = append(o.Why, "refused: "+pc.Err.Error())
		return o
	}
	res, err := b.Evaluate(c)
	if err != nil {
		o.Why = append(o.Why, "refused: "+err.Error())
		return o
	}
	if len(c.Expect) > len(res) {
		o.Why = append(o.Why, fmt.Sprintf("expected %d results, got %d", len(c.Expect), len(res)))
		return o
	}
	for i, e := range c.Expect {
		r := res[i]
		if e.Item != "" && e.Item != r.Item {
			o.Why = append(o.Why, fmt.Sprintf("result %d: item %s, expected %s", i+1, r.Item, e.Item))
			continue
		}
		if e.Status != "" && e.Status != string(r.Status) {
			o.Why = append(o.Why, fmt.Sprintf("%s: status %s, expected %s (reasons %v)", r.Item, r.Status, e.Status, r.Reasons))
		}
		if e.Amount != nil && *e.Amount != r.Amount {
			o.Why = append(o.Why, fmt.Sprintf("%s: amount %s, expected %s", r.Item, money.Format(r.Amount), money.Format(*e.Amount)))
		}
		if e.ReviewRequired != nil && *e.ReviewRequired != r.ReviewRequired {
			o.Why = append(o.Why, fmt.Sprintf("%s: review_required %v, expected %v", r.Item, r.ReviewRequired, *e.ReviewRequired))
		}
		for _, want := range e.Reasons {
			if !slices.Contains(r.Reasons, want) {
				o.Why = append(o.Why, fmt.Sprintf("%s: reason %s missing from %v", r.Item, want, r.Reasons))
			}
		}
	}
	o.Passed = len(o.Why) == 0
	return o
}

// CaseFiles expands paths (files or directories, walked for .yaml, .yml
// and .json) into a sorted list of files.
func CaseFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if !d.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}
