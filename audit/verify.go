package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"

	"policydesk/store"
)

// Kinds of Problem.
const (
	// KindEdited: the row's content no longer matches its hash.
	KindEdited = "edited"
	// KindRelinked: the row is intact but does not link to the row before
	// it — that row was rewritten with a recomputed hash, or this row was
	// moved here or forged with a hash of its own.
	KindRelinked = "relinked"
	// KindMisplaced: neither the link nor the row's own hash holds — the
	// row belongs at another seq (rows reordered) or was forged.
	KindMisplaced = "misplaced"
	// KindMissing: rows are absent — deleted from the middle or the end.
	KindMissing = "missing"
	// KindHead: the chain head (audit_head) disagrees with the rows —
	// rows appended outside Append, or the head itself altered.
	KindHead = "head"
	// KindCheckpoint: the chain no longer passes through a checkpoint
	// recorded earlier: history was rewritten, hashes and all.
	KindCheckpoint = "checkpoint"
)

// Problem is the first place where the chain fails.
type Problem struct {
	Seq    int64  `json:"seq"`              // the first bad seq
	Action string `json:"action,omitempty"` // the action of the row found at Seq, when there is one
	Kind   string `json:"kind"`             // one of the Kind constants
	// Detail says what differs, in Simplified Chinese and in English.
	Detail   string `json:"detail"`
	DetailEn string `json:"detail_en"`
}

// Report is the result of Verify.
type Report struct {
	// Rows is the number of rows checked and found intact.
	Rows int64 `json:"rows"`
	// Last is the newest row that verified: the chain is intact up to it.
	Last Checkpoint `json:"last"`
	// Head is what audit_head records as the newest row.
	Head Checkpoint `json:"head"`
	// Problem is the first failure, nil when the chain is intact.
	Problem *Problem `json:"problem,omitempty"`
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return r.Problem == nil }

// Write prints the report for people, Chinese first.
func (r Report) Write(w io.Writer) {
	if r.OK() {
		fmt.Fprintf(w, "审计链完整：共 %d 条记录 audit chain intact: %d rows\n", r.Rows, r.Rows)
		if r.Rows > 0 {
			fmt.Fprintf(w, "检查点 checkpoint: %s\n", r.Last)
			fmt.Fprintf(w, "请把检查点保存在数据库之外，日后以 --expect 核对 keep the checkpoint outside the database and check it later with --expect\n")
		}
		return
	}
	p := r.Problem
	action := ""
	if p.Action != "" {
		action = " (" + p.Action + ")"
	}
	fmt.Fprintf(w, "审计链已损坏 audit chain BROKEN at seq %d%s [%s]\n", p.Seq, action, p.Kind)
	fmt.Fprintf(w, "  %s\n  %s\n", p.Detail, p.DetailEn)
	if r.Rows > 0 {
		fmt.Fprintf(w, "此前 %d 条记录完整，至 intact up to %s\n", r.Rows, r.Last)
	} else {
		fmt.Fprintf(w, "没有完整的记录 no row verified\n")
	}
	fmt.Fprintf(w, "链头记录 audit_head records %s\n", r.Head)
}

// Verify reads the whole trail in one snapshot and checks every link: the
// seqs run 1, 2, 3… without gaps, each row's prev_hash is the hash of the
// row before, each row's hash is the SM3 of its content, the last row is
// the one audit_head records, and the chain passes through every
// checkpoint given. It stops at the first failure and reports it. An error
// means the trail could not be read, not that it is broken.
func Verify(ctx context.Context, db *store.DB, checkpoints ...Checkpoint) (Report, error) {
	var rep Report
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		rep = Report{}
		var seq int64
		var hash []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				rep.Problem = problem(1, "", KindHead, "链头 audit_head 缺失", "the chain head row (audit_head) is missing")
				return nil
			}
			return fmt.Errorf("%w: %v", errNoHead, err)
		}
		rep.Head.Seq = seq
		copy(rep.Head.Hash[:], hash)
		if len(hash) != len(rep.Head.Hash) {
			rep.Problem = problem(seq, "", KindHead, fmt.Sprintf("链头哈希长度为 %d 字节，应为 32", len(hash)), fmt.Sprintf("the chain head's hash has %d bytes, want 32", len(hash)))
			return nil
		}
		return verifyRows(ctx, tx, &rep, checkpoints)
	})
	return rep, err
}

func verifyRows(ctx context.Context, tx *store.Tx, rep *Report, checkpoints []Checkpoint) error {
	cps := append([]Checkpoint(nil), checkpoints...)
	sort.Slice(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
	rows, err := tx.Query(ctx, `SELECT `+rowColumns+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("audit: read audit_log: %w", err)
	}
	defer rows.Close()
	var atHead Checkpoint // the row at the head's seq
	var beyond string     // the action of the first row past the head
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return fmt.Errorf("audit: read audit_log: %w", err)
		}
		if p := checkRow(rep.Last, r); p != nil {
			rep.Problem = p
			return nil
		}
		for len(cps) > 0 && cps[0].Seq <= r.Seq {
			if cps[0].Seq == r.Seq && cps[0].Hash != r.Hash {
				rep.Problem = problem(r.Seq, r.Action, KindCheckpoint,
					fmt.Sprintf("第 %d 条记录的哈希 %s 与检查点 %s 不符：该处之前的历史被整段改写（哈希也重新计算过）", r.Seq, r.Hash, cps[0]),
					fmt.Sprintf("row %d has hash %s, but checkpoint %s was recorded: history up to here was rewritten, hashes recomputed", r.Seq, r.Hash, cps[0]))
				return nil
			}
			cps = cps[1:]
		}
		switch r.Seq {
		case rep.Head.Seq:
			atHead = Checkpoint{Seq: r.Seq, Hash: r.Hash}
		case rep.Head.Seq + 1:
			beyond = r.Action
		}
		rep.Rows++
		rep.Last = Checkpoint{Seq: r.Seq, Hash: r.Hash}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: read audit_log: %w", err)
	}
	last, head := rep.Last, rep.Head
	switch {
	case head.Seq > last.Seq:
		rep.Problem = problem(last.Seq+1, "", KindMissing,
			fmt.Sprintf("链头记录到第 %d 条，但最后一条记录是第 %d 条：第 %d 至 %d 条被删除", head.Seq, last.Seq, last.Seq+1, head.Seq),
			fmt.Sprintf("the head records seq %d but the last row is %d: rows %d–%d were deleted", head.Seq, last.Seq, last.Seq+1, head.Seq))
	case head.Seq < last.Seq && head.Seq > 0 && atHead.Hash != head.Hash:
		rep.Problem = problem(head.Seq, "", KindHead,
			fmt.Sprintf("链头哈希 %s 与第 %d 条记录的哈希 %s 不符：链头被改动", head.Hash, head.Seq, atHead.Hash),
			fmt.Sprintf("the head's hash %s differs from row %d's hash %s: the head was altered", head.Hash, head.Seq, atHead.Hash))
		rep.Rows, rep.Last = head.Seq, atHead
	case head.Seq < last.Seq:
		rep.Problem = problem(head.Seq+1, beyond, KindHead,
			fmt.Sprintf("第 %d 至 %d 条记录不在链头之内（链头为第 %d 条）：它们不是经 audit.Append 写入的，或链头被回拨", head.Seq+1, last.Seq, head.Seq),
			fmt.Sprintf("rows %d–%d lie beyond the chain head (seq %d): they were not written by audit.Append, or the head was moved back", head.Seq+1, last.Seq, head.Seq))
		rep.Rows, rep.Last = head.Seq, atHead
	case head.Hash != last.Hash:
		rep.Problem = problem(head.Seq, "", KindHead,
			fmt.Sprintf("链头哈希 %s 与第 %d 条记录的哈希 %s 不符：链头被改动", head.Hash, last.Seq, last.Hash),
			fmt.Sprintf("the head's hash %s differs from row %d's hash %s: the head was altered", head.Hash, last.Seq, last.Hash))
	}
	if rep.Problem == nil && len(cps) > 0 {
		c := cps[0]
		rep.Problem = problem(last.Seq+1, "", KindMissing,
			fmt.Sprintf("检查点 %s 超出最后一条记录（第 %d 条）：其后的记录连同链头被删除", c, last.Seq),
			fmt.Sprintf("checkpoint %s lies beyond the last row (%d): later rows were deleted together with the head", c, last.Seq))
	}
	return nil
}

// checkRow checks r, expected to follow prev (the zero Checkpoint for the
// first row), and returns the problem it has, if any.
func checkRow(prev Checkpoint, r Row) *Problem {
	want := prev.Seq + 1
	switch {
	case r.Seq < want:
		return problem(r.Seq, r.Action, KindMisplaced,
			fmt.Sprintf("出现序号为 %d 的记录，序号应从 1 开始连续编号", r.Seq),
			fmt.Sprintf("a row with seq %d: seqs start at 1 and run without gaps", r.Seq))
	case r.Seq > want:
		return problem(want, "", KindMissing,
			fmt.Sprintf("缺少第 %d 至 %d 条记录（被删除）", want, r.Seq-1),
			fmt.Sprintf("rows %d–%d are missing (deleted)", want, r.Seq-1))
	}
	linked := r.PrevHash == prev.Hash
	sum := r.Sum()
	intact := sum == r.Hash
	switch {
	case linked && !intact:
		return problem(r.Seq, r.Action, KindEdited,
			fmt.Sprintf("第 %d 条记录的内容与其哈希不符（存储 %s，计算 %s）：该记录被修改过", r.Seq, r.Hash, sum),
			fmt.Sprintf("row %d's content does not match its hash (stored %s, computed %s): the row was edited", r.Seq, r.Hash, sum))
	case !linked && intact:
		return problem(r.Seq, r.Action, KindRelinked,
			fmt.Sprintf("第 %d 条记录的前序哈希 %s 不是第 %d 条的哈希 %s：第 %d 条被改写并重算了哈希，或本条是移入或伪造的", r.Seq, r.PrevHash, prev.Seq, prev.Hash, prev.Seq),
			fmt.Sprintf("row %d's prev_hash %s is not row %d's hash %s: row %d was rewritten with a recomputed hash, or this row was moved here or forged", r.Seq, r.PrevHash, prev.Seq, prev.Hash, prev.Seq))
	case !linked && !intact:
		return problem(r.Seq, r.Action, KindMisplaced,
			fmt.Sprintf("第 %d 条记录既不接续第 %d 条，内容也与其哈希不符：记录顺序被调换、被替换或是伪造的", r.Seq, prev.Seq),
			fmt.Sprintf("row %d neither links to row %d nor matches its own hash: rows were reordered or replaced, or the row is forged", r.Seq, prev.Seq))
	}
	return nil
}

func problem(seq int64, action, kind, zh, en string) *Problem {
	return &Problem{Seq: seq, Action: action, Kind: kind, Detail: zh, DetailEn: en}
}
