package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/store"
)

func init() {
	register("user add", "新建用户（第一个管理员也用它）add a user: --login L --name N --role R", runUserAdd)
	register("user list", "列出用户 list users", runUserList)
}

// cliPrincipal is the actor of audit rows written from the command line:
// whoever runs it has the database in hand.
var cliPrincipal = auth.Principal{UserID: "cli", Login: "cli", Name: "命令行", Role: "system"}

func runUserAdd(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("user add", io)
	dsn := dbFlags(fs, io)
	login := fs.String("login", "", "登录名 login (3–64 letters, digits, . _ @ -)")
	name := fs.String("name", "", "姓名或单位名称 display name")
	role := fs.String("role", "", "角色 role: enterprise, provider, reviewer, expert, finance, admin")
	ent := fs.String("enterprise", "", "统一社会信用代码 USCC (enterprise and provider users)")
	dept := fs.String("department", "", "部门 department id (reviewers), e.g. info_tech")
	pwFile := fs.String("password-file", "", "从文件读取密码 read the password from FILE (first line); default: from standard input")
	bpath := bundleFlag(fs, io)
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if *login == "" || *name == "" || *role == "" {
		fmt.Fprintln(io.err, "user add: 需要 --login、--name 和 --role (need --login, --name and --role)")
		return 2
	}
	pw, err := readPassword(io, *pwFile)
	if err != nil {
		fmt.Fprintf(io.err, "user add: 无法读取密码 cannot read the password: %v\n", err)
		return 2
	}
	if err := auth.ValidatePassword(pw); err != nil {
		fmt.Fprintf(io.err, "user add: %s\n", message(err))
		return 2
	}
	bundle, err := loadBundle(*bpath)
	if err != nil {
		fmt.Fprintf(io.err, "user add: 政策包不能加载 policy bundle does not load: %v\n", err)
		return 1
	}
	db, err := store.Open(ctx, dsn())
	if err != nil {
		fmt.Fprintf(io.err, "user add: 无法打开数据库 cannot open the database: %v\n", err)
		return 1
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		fmt.Fprintf(io.err, "user add: 数据库升级失败 migration failed: %v\n", err)
		return 1
	}
	s := auth.NewStoreWithOptions(db, auth.Options{ValidDepartment: func(id string) bool { return bundle.Department(id) != nil }})
	u, err := s.AddUser(auth.NewContext(ctx, cliPrincipal), nil, auth.User{
		Login: *login, Name: *name, Role: auth.Role(*role), Enterprise: *ent, Department: *dept,
	}, pw)
	if err != nil {
		fmt.Fprintf(io.err, "user add: %s\n", message(err))
		if apperr.CodeOf(err) == apperr.Internal {
			return 1
		}
		return 2
	}
	fmt.Fprintf(io.out, "已创建用户 user added: %s (%s, %s, id %s)\n", u.Login, u.Name, u.Role.Label(), u.ID)
	return 0
}

// readPassword reads the first line of file, or of standard input.
func readPassword(io stdio, file string) (string, error) {
	in := io.in
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		in = f
	} else if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(io.err, "密码 password (至少 10 个字符, at least 10 characters; 输入可见 echoed): ")
		}
	}
	if in == nil {
		return "", errors.New("no input")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 4096), 4096)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("empty input")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}

// message is an error for a person: the Chinese and English messages of a
// coded error, else the error's text.
func message(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) {
		s := e.Message
		if e.MessageEn != "" {
			s += " (" + e.MessageEn + ")"
		}
		return s
	}
	return err.Error()
}

func runUserList(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("user list", io)
	dsn := dbFlags(fs, io)
	role := fs.String("role", "", "只列出此角色 only this role")
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if *role != "" && !auth.Role(*role).Valid() {
		fmt.Fprintf(io.err, "user list: 未知角色 unknown role %q\n", *role)
		return 2
	}
	db, err := store.Open(ctx, dsn())
	if err != nil {
		fmt.Fprintf(io.err, "user list: 无法打开数据库 cannot open the database: %v\n", err)
		return 1
	}
	defer db.Close()
	users, err := auth.NewStore(db).Users(ctx, auth.Role(*role))
	if err != nil {
		fmt.Fprintf(io.err, "user list: %v (运行 policydesk migrate? run policydesk migrate?)\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(io.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "登录名\t名称\t角色\t单位\t部门\t状态")
	for _, u := range users {
		state := "正常"
		if u.Disabled {
			state = "已停用"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Login, u.Name, u.Role.Label(), u.Enterprise, u.Department, state)
	}
	tw.Flush()
	return 0
}
