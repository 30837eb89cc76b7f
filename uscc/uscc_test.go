package uscc_test

import (
	"errors"
	"strings"
	"testing"

	"policydesk/uscc"

	"pgregory.net/rapid"
)

const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// checkChar computes the GB 32100-2015 check character independently of
// the package: weights 3^i mod 31, check = 31 − sum mod 31 (31 → 0).
func checkChar(body string) byte {
	sum, w := 0, 1
	for i := 0; i < 17; i++ {
		sum += strings.IndexByte(alphabet, body[i]) * w
		w = w * 3 % 31
	}
	c := (31 - sum%31) % 31
	return alphabet[c]
}

func replaceAt(s string, i int, c byte) string {
	b := []byte(s)
	b[i] = c
	return string(b)
}

func TestValidateCodes(t *testing.T) {
	valid := []string{"91110302MA01AB3C7G", "91110115MA01FG5H9J", "91110302MA01CD4E89"}
	for _, code := range valid {
		if err := uscc.Validate(code); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", code, err)
		}
		if c := checkChar(code[:17]); c != code[17] {
			t.Errorf("independent check character of %q is %c", code, c)
		}
	}
	tests := []struct {
		code string
		err  error
	}{
		{"91110302MA01AB3C7X", uscc.ErrCheck},
		{"91110302MA01AB3C7H", uscc.ErrCheck},
		{"91110115MA01FG5H9K", uscc.ErrCheck},
		{"91110302MA01CD4E88", uscc.ErrCheck},
		{"91110302MA01AB3C7", uscc.ErrLength},
		{"91110302MA01AB3C7GG", uscc.ErrLength},
		{"", uscc.ErrLength},
		{" 91110302MA01AB3C7G", uscc.ErrLength},
		{"91110302ma01ab3c7g", uscc.ErrChar},
		{"91110302MA01AB3C7g", uscc.ErrChar},
		{"91110302MA01AB3C7 ", uscc.ErrChar},
		{"91110302MA01AB3C7-", uscc.ErrChar},
		{"9111030２MA01AB3C7", uscc.ErrLength}, // a full-width digit is 3 bytes
		{"91A10302MA01AB3C7G", uscc.ErrDivision},
	}
	for _, l := range "IOSVZ" {
		tests = append(tests,
			struct {
				code string
				err  error
			}{replaceAt("91110302MA01AB3C7G", 10, byte(l)), uscc.ErrChar},
			struct {
				code string
				err  error
			}{replaceAt("91110302MA01AB3C7G", 17, byte(l)), uscc.ErrChar})
	}
	for _, tc := range tests {
		if err := uscc.Validate(tc.code); !errors.Is(err, tc.err) {
			t.Errorf("Validate(%q) = %v, want %v", tc.code, err, tc.err)
		}
	}
	// A division code with a letter is refused as such even when the check
	// character is right for it.
	for _, body := range []string{"91A10302MA01AB3C7", "9111030AMA01AB3C7", "91110302MA01AB3C7"[:2] + "X10302MA01AB3C7"} {
		code := uscc.Complete(body)
		if code == "" {
			t.Fatalf("Complete(%q) = \"\"", body)
		}
		if err := uscc.Validate(code); !errors.Is(err, uscc.ErrDivision) {
			t.Errorf("Validate(%q) = %v, want ErrDivision", code, err)
		}
	}
}

func TestCompleteCodes(t *testing.T) {
	tests := []struct{ body, want string }{
		{"91110302MA01AB3C7", "91110302MA01AB3C7G"},
		{"91110115MA01FG5H9", "91110115MA01FG5H9J"},
		{"91110302MA01CD4E8", "91110302MA01CD4E89"},
		{"91110302MA01AB3C", ""},   // 16 characters
		{"91110302MA01AB3C7G", ""}, // 18 characters
		{"91110302MA01AB3CI", ""},  // I is not in the alphabet
		{"91110302ma01ab3c7", ""},
	}
	for _, tc := range tests {
		if got := uscc.Complete(tc.body); got != tc.want {
			t.Errorf("Complete(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
	if c := uscc.CheckChar("short"); c != 0 {
		t.Errorf("CheckChar(short) = %q, want 0", c)
	}
	if got := uscc.CheckIndex(0); got != 0 {
		t.Errorf("CheckIndex(0) = %d, want 0 (31 maps to 0)", got)
	}
	if got := uscc.CheckIndex(31 * 7); got != 0 {
		t.Errorf("CheckIndex(217) = %d, want 0", got)
	}
	if got := uscc.CheckIndex(1); got != 30 {
		t.Errorf("CheckIndex(1) = %d, want 30", got)
	}

	// Complete makes valid codes, and exactly one check character is valid.
	rapid.Check(t, func(t *rapid.T) {
		ch := rapid.SampledFrom([]byte(alphabet))
		digit := rapid.ByteRange('0', '9')
		b := make([]byte, 17)
		for i := range b {
			if i >= 2 && i < 8 {
				b[i] = digit.Draw(t, "d")
			} else {
				b[i] = ch.Draw(t, "c")
			}
		}
		body := string(b)
		code := uscc.Complete(body)
		if len(code) != 18 || code[:17] != body || code[17] != checkChar(body) {
			t.Fatalf("Complete(%q) = %q, want check %c", body, code, checkChar(body))
		}
		if err := uscc.Validate(code); err != nil {
			t.Fatalf("Validate(Complete(%q)) = %v", body, err)
		}
		for i := 0; i < len(alphabet); i++ {
			if alphabet[i] == code[17] {
				continue
			}
			if err := uscc.Validate(body + alphabet[i:i+1]); !errors.Is(err, uscc.ErrCheck) {
				t.Fatalf("Validate(%q) = %v, want ErrCheck", body+alphabet[i:i+1], err)
			}
		}
		// A change of any single character of the body is caught.
		pos := rapid.IntRange(0, 16).Draw(t, "pos")
		repl := ch.Draw(t, "repl")
		if repl != code[pos] && !(pos >= 2 && pos < 8) {
			if err := uscc.Validate(replaceAt(code, pos, repl)); err == nil {
				t.Fatalf("Validate(%q) accepted a one-character change of %q", replaceAt(code, pos, repl), code)
			}
		}
	})
}

// FuzzUSCCValidate: whatever Validate accepts is 18 characters of the alphabet with
// a numeric division code and the independent check character.
func FuzzUSCCValidate(f *testing.F) {
	for _, s := range []string{"91110302MA01AB3C7G", "91110115MA01FG5H9J", "91110302MA01CD4E89", "91110302MA01AB3C7X",
		"91110302ma01ab3c7g", "", "000000000000000000", "91A10302MA01AB3C7G", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := uscc.Validate(s)
		if len(s) >= 17 {
			if c := uscc.Complete(s[:17]); c != "" && c[17] != checkChar(s[:17]) {
				t.Fatalf("Complete(%q) = %q, want check %c", s[:17], c, checkChar(s[:17]))
			}
		}
		if err != nil {
			return
		}
		if len(s) != 18 {
			t.Fatalf("Validate accepted %q of length %d", s, len(s))
		}
		for i := 0; i < 18; i++ {
			if strings.IndexByte(alphabet, s[i]) < 0 {
				t.Fatalf("Validate accepted %q with %q outside the alphabet", s, s[i])
			}
			if i >= 2 && i < 8 && (s[i] < '0' || s[i] > '9') {
				t.Fatalf("Validate accepted %q with a non-digit division code", s)
			}
		}
		if s[17] != checkChar(s[:17]) || uscc.Complete(s[:17]) != s {
			t.Fatalf("Validate accepted %q with a wrong check character", s)
		}
	})
}
