package policy_test

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"policydesk/policies"
	"policydesk/policy"
)

// FuzzLoadBundle replaces one file of the embedded bundle with arbitrary
// bytes. Loading either succeeds — and the bundle then evaluates an empty
// case without panicking — or fails with an error that names the file.
func FuzzLoadBundle(f *testing.F) {
	src := policies.Default()
	base := fstest.MapFS{}
	var names []string
	if err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		base[p] = &fstest.MapFile{Data: data}
		if strings.HasSuffix(p, ".yaml") && !strings.Contains(p, "tests/") {
			names = append(names, p)
		}
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	slices.Sort(names)
	for i, n := range names {
		f.Add(uint8(i), base[n].Data)
	}
	f.Add(uint8(0), []byte("a: &a [*a, *a]\nb: [*a, *a, *a]\n"))
	f.Add(uint8(1), []byte("id: x\nparameters:\n  rate: [{from: 2024-01-01, value: \"0.3\"}, {from: 2023-12-31, value: \"0.5\"}]\n"))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := names[int(which)%len(names)]
		m := fstest.MapFS{}
		for k, v := range base {
			m[k] = v
		}
		m[name] = &fstest.MapFile{Data: data}
		b, err := policy.Load(m)
		if err != nil {
			short := name[strings.LastIndex(name, "/")+1:]
			if !strings.Contains(err.Error(), short) && !strings.Contains(err.Error(), strings.TrimSuffix(short, ".yaml")) {
				t.Fatalf("the error does not name %s: %v", name, err)
			}
			return
		}
		c := policy.Case{Date: b.InForce.From, USCC: "91110302MA01AB3C7G"}
		if _, err := b.Evaluate(&c); err != nil {
			var ie *policy.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("a loaded bundle fails on an empty case: %v", err)
			}
		}
	})
}
