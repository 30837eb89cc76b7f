package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"policydesk/store/storetest"
)

func TestUserAdd(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		pwFile := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pwFile, []byte("a long admin password\n"), 0o600)
		code, out, errOut := run(t, "", "user", "add", "--db", dsn, "--login", "root", "--name", "管理员", "--role", "admin", "--password-file", pwFile)
		if code != 0 || !strings.Contains(out, "已创建用户") {
			t.Fatalf("user add admin: %d %s %s", code, out, errOut)
		}
		// From standard input.
		code, _, errOut = run(t, "reviewer password 1\n", "user", "add", "--db", dsn, "--login", "rev", "--name", "李审核", "--role", "reviewer", "--department", "info_tech")
		if code != 0 {
			t.Fatalf("user add reviewer: %d %s", code, errOut)
		}
		refused := []struct {
			name  string
			stdin string
			args  []string
			want  string
		}{
			{"short password", "short\n", []string{"--login", "a1b", "--name", "n", "--role", "admin"}, "至少需要 10 个字符"},
			{"no password", "", []string{"--login", "a1b", "--name", "n", "--role", "admin"}, "无法读取密码"},
			{"duplicate login", "long enough pw\n", []string{"--login", "ROOT", "--name", "n", "--role", "admin"}, "已被使用"},
			{"reviewer without department", "long enough pw\n", []string{"--login", "rev2", "--name", "n", "--role", "reviewer"}, "须指定部门"},
			{"department not in the policy", "long enough pw\n", []string{"--login", "rev3", "--name", "n", "--role", "reviewer", "--department", "space_agency"}, "未知部门"},
			{"enterprise without a valid USCC", "long enough pw\n", []string{"--login", "ent", "--name", "n", "--role", "enterprise", "--enterprise", "91110302MA01AB3C7X"}, "统一社会信用代码"},
			{"unknown role", "long enough pw\n", []string{"--login", "x12", "--name", "n", "--role", "king"}, "未知角色"},
			{"missing flags", "long enough pw\n", []string{"--login", "x12"}, "需要"},
		}
		for _, r := range refused {
			code, _, errOut := run(t, r.stdin, append([]string{"user", "add", "--db", dsn}, r.args...)...)
			if code != 2 || !strings.Contains(errOut, r.want) {
				t.Errorf("%s: exit %d, %q; want 2 and %q", r.name, code, errOut, r.want)
			}
		}
		code, out, _ = run(t, "", "user", "list", "--db", dsn)
		if code != 0 || !strings.Contains(out, "root") || !strings.Contains(out, "rev") || strings.Contains(out, "a1b") || strings.Count(out, "\n") != 3 {
			t.Fatalf("user list: %d\n%s", code, out)
		}
		code, out, _ = run(t, "", "user", "list", "--db", dsn, "--role", "reviewer")
		if code != 0 || strings.Contains(out, "root") || !strings.Contains(out, "info_tech") {
			t.Fatalf("user list --role reviewer: %d\n%s", code, out)
		}
	})
}
