package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"policydesk/audit"
	"policydesk/ledger"
	"policydesk/store"
)

func init() {
	register("backup", "在线备份数据库 consistent online backup (SQLite: VACUUM INTO; PostgreSQL: pg_dump)", runBackup)
	register("restore", "从备份恢复到新数据库并校验 restore a backup into an empty database, then migrate and verify", runRestore)
}

// keyAdvice reminds that the SM4 key is not in the database.
const keyAdvice = "注意 note: 银行账户以 SM4 密钥加密，密钥不在备份中 (POLICYDESK_KEY 或数据目录下的 sm4.key)，请另行妥善保存 — the SM4 key that seals bank accounts is not in the backup; keep it (POLICYDESK_KEY or sm4.key in the data directory) separately"

// runBackup exits 0 with the backup written, 1 when it failed (nothing is
// left under --out then), 2 on bad usage.
func runBackup(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	dsn := dbFlags(fs, io)
	out := fs.String("out", "", "备份文件 the backup file to write; must not exist (SQLite: a database file; PostgreSQL: a pg_dump custom-format archive)")
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(io.err, "backup: 请用 --out 指定备份文件 give the backup file with --out")
		return 2
	}
	db, err := store.Open(ctx, dsn())
	if err != nil {
		fmt.Fprintf(io.err, "backup: 无法打开数据库 cannot open the database: %v\n", err)
		return 1
	}
	defer db.Close()
	start := time.Now()
	if err := db.Backup(ctx, *out); err != nil {
		fmt.Fprintf(io.err, "backup: 备份失败 failed: %v\n", err)
		if errors.Is(err, store.ErrNoPGDump) {
			return 2
		}
		return 1
	}
	var size int64
	if st, err := os.Stat(*out); err == nil {
		size = st.Size()
	}
	fmt.Fprintf(io.out, "备份完成 backup written: %s (%s, %d bytes, 用时 took %s)\n", *out, db.Dialect(), size, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(io.out, keyAdvice)
	return 0
}

// runRestore exits 0 when the backup was restored and both the ledger and
// the audit chain verify, 1 when restoring failed (a target that is not
// empty is refused untouched) or verification failed, 2 on bad usage.
func runRestore(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	target := fs.String("db", "", "目标数据库 the new, empty database: sqlite:///path/new.db or postgres://…")
	from := fs.String("from", "", "备份文件 the backup file written by policydesk backup (or pg_dump -Fc)")
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if *from == "" || *target == "" {
		fmt.Fprintln(io.err, "restore: 请给出 --from 备份文件 和 --db 目标数据库 give --from FILE and --db DSN (a new, empty database)")
		return 2
	}
	if _, err := store.ParseDSN(*target); err != nil {
		fmt.Fprintf(io.err, "restore: %v\n", err)
		return 2
	}
	start := time.Now()
	if err := store.Restore(ctx, *from, *target); err != nil {
		fmt.Fprintf(io.err, "restore: 恢复失败 failed: %v\n", err)
		return 1
	}
	fmt.Fprintf(io.out, "已恢复 restored %s into %s (用时 took %s)\n", *from, redactDSN(*target), time.Since(start).Round(time.Millisecond))
	db, err := store.Open(ctx, *target)
	if err != nil {
		fmt.Fprintf(io.err, "restore: 无法打开恢复后的数据库 cannot open the restored database: %v\n", err)
		return 1
	}
	defer db.Close()
	if vs, err := db.AppliedMigrations(ctx); err != nil || len(vs) == 0 {
		// pg_restore recreates the schema the dump came from; a DSN whose
		// search_path points elsewhere would see an empty database here.
		fmt.Fprintf(io.err, "restore: 恢复的数据不在 --db 指向的位置 the restored tables are not where --db points (PostgreSQL: give search_path=<the dumped schema>): %v\n", err)
		return 1
	}
	applied, err := db.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(io.out, "已应用 applied %04d_%s\n", m.Version, m.Name)
	}
	if err != nil {
		fmt.Fprintf(io.err, "restore: 数据库升级失败 migration failed: %v\n", err)
		return 1
	}
	ok := true
	lr, err := ledger.Verify(ctx, db)
	if err != nil {
		fmt.Fprintf(io.err, "restore: 无法读取账本 cannot read the ledger: %v\n", err)
		return 1
	}
	lr.Write(io.out)
	ok = ok && lr.OK()
	ar, err := audit.Verify(ctx, db)
	if err != nil {
		fmt.Fprintf(io.err, "restore: 无法读取审计记录 cannot read the audit trail: %v\n", err)
		return 1
	}
	ar.Write(io.out)
	ok = ok && ar.OK()
	fmt.Fprintln(io.out, keyAdvice)
	if !ok {
		fmt.Fprintln(io.err, "restore: 校验失败 verification FAILED: do not use this copy")
		return 1
	}
	return 0
}
