package uscc

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, c := range []string{"91110302MA01AB3C7G", "91110115MA01FG5H9J", "91110302MA01CD4E89"} {
		if err := Validate(c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	bad := map[string]error{"91110302MA01AB3C7X": ErrCheck, "91110302MA01AB3C7": ErrLength, "91110302ma01ab3c7g": ErrChar,
		"91110302MA01AB3CIG": ErrChar, "9111A302MA01AB3C70": ErrDivision, "": ErrLength}
	for c, want := range bad {
		if err := Validate(c); err != want {
			t.Errorf("%s: %v, want %v", c, err, want)
		}
	}
	if c := Complete("91110302MA01AB3C7"); c != "91110302MA01AB3C7G" {
		t.Errorf("Complete: %s", c)
	}
}

// FuzzValidateComplete: Validate never panics; every completed body validates.
func FuzzValidateComplete(f *testing.F) {
	f.Add("91110302MA01AB3C7G")
	f.Add("91110302MA01AB3C7")
	f.Fuzz(func(t *testing.T, s string) {
		_ = Validate(s)
		if c := Complete(s); c != "" {
			if strings.ContainsAny(s[2:8], "ABCDEFGHJKLMNPQRTUWXY") {
				if Validate(c) != ErrDivision {
					t.Fatalf("%s: division code not refused", c)
				}
				return
			}
			if err := Validate(c); err != nil {
				t.Fatalf("Complete(%q) = %q does not validate: %v", s, c, err)
			}
		}
	})
}
