package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"policydesk/audit"
	"policydesk/store"
)

func init() {
	register("audit verify", "校验审计链 verify the audit trail's SM3 hash chain", runAuditVerify)
}

// runAuditVerify exits 0 when the chain is intact, 1 with the first bad
// seq and what differs when it is not (or the trail cannot be read), 2 on
// bad usage.
func runAuditVerify(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dsn := dbFlags(fs, io)
	var cps []audit.Checkpoint
	fs.Func("expect", "检查点 a checkpoint seq:hash printed by an earlier run, kept outside the database; the chain must still pass through it (repeatable)", func(s string) error {
		c, err := audit.ParseCheckpoint(s)
		if err != nil {
			return err
		}
		cps = append(cps, c)
		return nil
	})
	asJSON := fs.Bool("json", false, "以 JSON 输出报告 print the report as JSON")
	if err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "audit verify: 多余的参数 unexpected arguments: %v\n", fs.Args())
		return 2
	}
	db, err := store.Open(ctx, dsn())
	if err != nil {
		fmt.Fprintf(io.err, "audit verify: 无法打开数据库 cannot open the database: %v\n", err)
		return 1
	}
	defer db.Close()
	start := time.Now()
	rep, err := audit.Verify(ctx, db, cps...)
	if err != nil {
		fmt.Fprintf(io.err, "audit verify: 无法读取审计记录 cannot read the audit trail (run policydesk migrate?): %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(io.err, "audit verify: %v\n", err)
			return 1
		}
	} else {
		rep.Write(io.out)
		fmt.Fprintf(io.out, "用时 took %s\n", time.Since(start).Round(time.Millisecond))
	}
	if !rep.OK() {
		return 1
	}
	return 0
}
