package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// The writer side of an import. It runs in one transaction and decides
// each row in file order — its invoice unused (in the database, or
// earlier in the file), its contract not taken over its amount — then
// stores the accepted rows a chunk at a time. Imports take turns (the
// SQLite write lock; a PostgreSQL advisory lock), so what the writer
// reads of the database cannot change under it: a chunk that still meets
// an invoice stored before is planned again knowing it, and stored again.

// Sentinels that end the transaction without storing anything.
var (
	errReplay  = errors.New("compute: the same file was imported before")
	errNothing = errors.New("compute: nothing to store")
)

// advisoryLock serialises imports and record submissions on PostgreSQL.
const advisoryLock = 7263541

type writer struct {
	im   *importer
	ctx  context.Context
	tx   *store.Tx
	cp   store.Copier
	id   string
	n    int       // rows per chunk
	stmt *sql.Stmt // SQLite: the full-chunk INSERT

	// seen maps the hash of each invoice accepted in this file to its
	// line: a million invoices cost 16 MB, not the 100 MB of a map of
	// strings. A hit is confirmed against the row itself; the rare
	// collision of two invoices' hashes goes to collided.
	seed     maphash.Seed
	seen     map[uint64]int32
	collided map[string]int32
	dbDup    map[string]string // invoice → its first use, stored before

	cand      []row   // rows decided since the last chunk was stored
	pend      []int32 // those accepted, indices into cand
	chunkErrs []RowError
	errs      []RowError

	imported int
	amount   int64
	touched  map[*contractRef]bool
	dates    map[policy.Date]any // boxed once: database/sql takes []any
	args     []any
	staged   bool
}

// store consumes the parser's batches in the import's transaction and
// returns the result; rows are committed only when the whole file was
// read and (for a strict import) no row was refused.
func (im *importer) store(batches <-chan []row, parsed <-chan error) (*ImportResult, error) {
	s := im.s
	var res *ImportResult
	var replay *ImportResult
	attempts := 0
	body := func(tx *store.Tx, cp store.Copier) error {
		if attempts++; attempts > 1 {
			// The stream cannot be read twice.
			return apperr.New(apperr.Unavailable, "数据库繁忙,导入未完成,请重新导入", "the database was busy; import the file again")
		}
		w := &writer{im: im, ctx: im.ctx, tx: tx, cp: cp, id: newID("imp"), seed: maphash.MakeSeed(), seen: map[uint64]int32{},
			collided: map[string]int32{}, dbDup: map[string]string{}, touched: map[*contractRef]bool{}, dates: map[policy.Date]any{}}
		if err := w.begin(); err != nil {
			return err
		}
		for batch := range batches {
			for i := range batch {
				if err := w.add(batch[i]); err != nil {
					return err
				}
			}
		}
		if err := <-parsed; err != nil {
			return fileErr(err)
		}
		if im.lookupErr != nil {
			return im.lookupErr
		}
		if err := w.flush(); err != nil {
			return err
		}
		var err error
		if replay, err = s.replay(im.ctx, im.p.ID, im.res.SHA256); replay != nil || err != nil {
			if err == nil {
				err = errReplay
			}
			return err
		}
		r := im.res
		r.Errors = append(slices.Clone(im.errs), w.errs...)
		slices.SortStableFunc(r.Errors, func(a, b RowError) int { return a.Line - b.Line })
		r.Refused, r.Imported, r.Amount = len(r.Errors), w.imported, money.Amount(w.amount)
		res = &r
		if r.Imported == 0 || (im.opt.Strict && r.Refused > 0) {
			res.Imported, res.Amount = 0, 0
			return errNothing
		}
		res.ID, res.Committed = w.id, true
		im.progress("write", r.Imported, r.Imported)
		return w.finish(res)
	}
	var err error
	if s.db.Dialect() == store.Postgres {
		err = s.db.TxCopy(im.ctx, body)
	} else {
		err = s.db.Tx(im.ctx, func(tx *store.Tx) error { return body(tx, store.Copier{}) })
	}
	switch {
	case errors.Is(err, errReplay):
		return replay, nil
	case errors.Is(err, errNothing):
		return res, nil
	case err != nil && store.IsUniqueViolation(err):
		// The same file committed by a concurrent import: its result.
		if r, rerr := s.replay(im.ctx, im.p.ID, im.res.SHA256); r != nil && rerr == nil {
			return r, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (w *writer) begin() error {
	if w.tx.Dialect() == store.Postgres {
		if _, err := w.tx.Exec(w.ctx, `SELECT pg_advisory_xact_lock(?)`, advisoryLock); err != nil {
			return err
		}
		w.n = 50_000
		return nil
	}
	w.n = w.im.s.opt.InsertRows
	var err error
	w.stmt, err = w.tx.Prepare(w.ctx, w.insertSQL(w.n))
	return err
}

// add decides a row and stores a chunk when it is full.
func (w *writer) add(r row) error {
	w.cand = append(w.cand, r)
	i := len(w.cand) - 1
	ok, err := w.accept(&w.cand[i])
	if err != nil {
		return err
	}
	if ok {
		w.pend = append(w.pend, int32(i))
	}
	if len(w.pend) >= w.n || len(w.cand) >= 4*w.n {
		return w.flush()
	}
	return nil
}

func (w *writer) refuse(r *row, field, code, zh, en string) {
	w.chunkErrs = append(w.chunkErrs, RowError{Line: int(r.line), Field: field, Code: code, Message: zh, MessageEn: en})
}

// accept decides one row: its invoice unused, its contract not taken
// over the contract amount.
func (w *writer) accept(r *row) (bool, error) {
	if msg, ok := w.dbDup[r.invoice]; ok {
		w.refuse(r, "invoice_no", CodeDuplicate, "发票号码 "+r.invoice+" 已被使用:"+msg, "invoice "+r.invoice+" is already used")
		return false, nil
	}
	first, err := w.firstInFile(r)
	if err != nil {
		return false, err
	}
	if first > 0 {
		w.refuse(r, "invoice_no", CodeDuplicate, fmt.Sprintf("发票号码 %s 与本文件第 %d 行重复", r.invoice, first), fmt.Sprintf("invoice %s repeats line %d of this file", r.invoice, first))
		return false, nil
	}
	c := r.ref
	if !c.loaded {
		var err error
		if c.settled, err = settled(w.ctx, w.tx, c.id); err != nil {
			return false, err
		}
		c.loaded = true
	}
	if total := c.settled + c.accepted + r.amt; total > c.amount {
		w.refuse(r, "amount", CodeExceeds, fmt.Sprintf("合同结算累计将达 %s 元,超过合同金额 %s 元", money.FormatGrouped(total), money.FormatGrouped(c.amount)),
			"the contract's records would exceed its amount")
		return false, nil
	}
	c.accepted += r.amt
	h := maphash.String(w.seed, r.invoice)
	if _, taken := w.seen[h]; taken {
		w.collided[r.invoice] = r.line
	} else {
		w.seen[h] = r.line
	}
	w.touched[c] = true
	return true, nil
}

func (w *writer) unaccept(r *row) {
	r.ref.accepted -= r.amt
	if w.collided[r.invoice] == r.line {
		delete(w.collided, r.invoice)
	} else if h := maphash.String(w.seed, r.invoice); w.seen[h] == r.line {
		delete(w.seen, h)
	}
}

// firstInFile returns the line of this file whose accepted row has r's
// invoice, or 0.
func (w *writer) firstInFile(r *row) (int32, error) {
	if line, ok := w.collided[r.invoice]; ok {
		return line, nil
	}
	line, ok := w.seen[maphash.String(w.seed, r.invoice)]
	if !ok {
		return 0, nil
	}
	// The same hash: the same invoice, unless two hashes collide. The
	// earlier row is in the chunk being decided, or stored already.
	if i, found := slices.BinarySearchFunc(w.cand, line, func(x row, l int32) int { return int(x.line - l) }); found {
		if w.cand[i].invoice == r.invoice {
			return line, nil
		}
		return 0, nil
	}
	var one int
	err := w.tx.QueryRow(w.ctx, `SELECT 1 FROM compute_settlements WHERE invoice_no = ? AND import_id = ?`, r.invoice, w.id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return line, err
}

// flush stores the accepted rows of the chunk. When some turn out to use
// an invoice stored before, nothing of the chunk stays: it is decided
// again, knowing those invoices, and stored again.
func (w *writer) flush() error {
	for attempt := 0; len(w.pend) > 0; attempt++ {
		if w.im.opt.Strict && (w.im.failed.Load() || len(w.errs)+len(w.chunkErrs) > 0) {
			break // a strict import with a refused row stores nothing: only decide the rest
		}
		found, err := w.write()
		if err != nil {
			return err
		}
		if len(found) == 0 {
			for _, i := range w.pend {
				w.imported++
				w.amount += w.cand[i].amt
			}
			break
		}
		if attempt == 3 {
			return errors.New("compute: stored invoices keep appearing under the import's lock")
		}
		for inv, msg := range found {
			w.dbDup[inv] = msg
		}
		for _, i := range w.pend {
			w.unaccept(&w.cand[i])
		}
		w.pend, w.chunkErrs = w.pend[:0], w.chunkErrs[:0]
		for i := range w.cand {
			ok, err := w.accept(&w.cand[i])
			if err != nil {
				return err
			}
			if ok {
				w.pend = append(w.pend, int32(i))
			}
		}
	}
	w.errs = append(w.errs, w.chunkErrs...)
	w.cand, w.pend, w.chunkErrs = w.cand[:0], w.pend[:0], w.chunkErrs[:0]
	if w.imported > 0 && w.imported%100_000 < w.n {
		w.im.progress("write", w.imported, 0)
	}
	return nil
}

// write stores the chunk's accepted rows; when some invoices are found
// stored already, it stores nothing and returns them.
func (w *writer) write() (map[string]string, error) {
	if w.cp.Available() {
		return w.copyChunk()
	}
	return w.insertChunk()
}

func (w *writer) date(d policy.Date) any {
	if s, ok := w.dates[d]; ok {
		return s
	}
	var s any = d.String()
	w.dates[d] = s
	return s
}

const settlementInsertCols = `contract_id, import_id, line, period_start, period_end, card_milli, api_calls, amount, invoice_no, invoice_date, delivery_ref, state, created_at, updated_at`

const perRow = 10 // parameters per row

// insertSQL is a multi-row INSERT of k rows (SQLite). The import id and
// the time, the same for every row, are literals (our own id and an
// integer); parameters are plain ? marks, since modernc's SQLite looks up
// a numbered parameter's name at every bind, which is quadratic in a
// statement's parameters. A conflicting invoice is skipped and looked up
// afterwards.
func (w *writer) insertSQL(k int) string {
	row := "(?, '" + strings.ReplaceAll(w.id, "'", "''") + "', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', " + strconv.FormatInt(nanos(w.im.now), 10) + ", " +
		strconv.FormatInt(nanos(w.im.now), 10) + ")"
	var b strings.Builder
	b.Grow(80 + k*(len(row)+2))
	b.WriteString(`INSERT INTO compute_settlements (` + settlementInsertCols + `) VALUES `)
	for i := range k {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(` ON CONFLICT (invoice_no) DO NOTHING`)
	return b.String()
}

func (w *writer) insertChunk() (map[string]string, error) {
	k := len(w.pend)
	if cap(w.args) < k*perRow {
		w.args = make([]any, w.n*perRow)
	}
	a := w.args[:k*perRow]
	for j, i := range w.pend {
		r := &w.cand[i]
		o := j * perRow
		a[o], a[o+1], a[o+2], a[o+3] = r.ref.idArg(), int64(r.line), w.date(r.start), w.date(r.end)
		a[o+4], a[o+5], a[o+6], a[o+7], a[o+8], a[o+9] = r.card, r.calls, r.amt, r.invoice, w.date(r.idat), r.dref
	}
	var res sql.Result
	var err error
	if k == w.n {
		res, err = w.stmt.ExecContext(w.ctx, a...)
	} else {
		res, err = w.tx.Exec(w.ctx, w.insertSQL(k), a...)
	}
	if err != nil {
		return nil, err
	}
	if got, _ := res.RowsAffected(); int(got) == k {
		return nil, nil
	}
	args := make([]any, 0, k+1)
	args = append(args, w.id)
	for _, i := range w.pend {
		args = append(args, w.cand[i].invoice)
	}
	found, err := w.duplicates(`SELECT s.invoice_no, s.id, s.import_id, s.line, s.created_at, c.provider_id FROM compute_settlements s
		JOIN compute_contracts c ON c.id = s.contract_id WHERE s.import_id <> ? AND s.invoice_no IN (`+store.Placeholders(k)+`)`, args...)
	if err != nil {
		return nil, err
	}
	// Take back what the chunk stored: it is decided again.
	if _, err := w.tx.Exec(w.ctx, `DELETE FROM compute_settlements WHERE import_id = ? AND invoice_no IN (`+store.Placeholders(k)+`)`, args...); err != nil {
		return nil, err
	}
	return found, nil
}

// duplicates runs q, which lists stored records (invoice, id, import,
// line, time, provider), and names each invoice's first use.
func (w *writer) duplicates(q string, args ...any) (map[string]string, error) {
	rows, err := w.tx.Query(w.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := map[string]string{}
	for rows.Next() {
		var inv, imp, prov string
		var id, line, at int64
		if err := rows.Scan(&inv, &id, &imp, &line, &at, &prov); err != nil {
			return nil, err
		}
		found[inv] = w.firstUse(id, imp, line, at, prov)
	}
	return found, rows.Err()
}

// firstUse names the record that used an invoice first; another
// provider's record is named without its contract or import.
func (w *writer) firstUse(id int64, importID string, line, at int64, provider string) string {
	when := fromNanos(at).In(beijing).Format("2006-01-02 15:04")
	if provider != w.im.p.ID {
		return fmt.Sprintf("其他服务商的结算记录 #%d(%s 报送)", id, when)
	}
	return fmt.Sprintf("结算记录 #%d(导入批次 %s 第 %d 行,%s 报送)", id, importID, line, when)
}

var stageCols = []string{"line", "contract_id", "period_start", "period_end", "card_milli", "api_calls", "amount", "invoice_no", "invoice_date", "delivery_ref"}

// copyChunk stores the chunk on PostgreSQL: COPY into a temporary staging
// table, then INSERT … SELECT … ON CONFLICT DO NOTHING, whose count
// detects a stored invoice. Only then are the conflicting invoices looked
// up, and what the chunk stored taken back, to decide it again. (A join
// against the stored invoices before every chunk would scan the whole
// table each time.)
func (w *writer) copyChunk() (map[string]string, error) {
	if !w.staged {
		if _, err := w.tx.Exec(w.ctx, `CREATE TEMPORARY TABLE compute_stage (line BIGINT, contract_id TEXT, period_start TEXT, period_end TEXT,
			card_milli BIGINT, api_calls BIGINT, amount BIGINT, invoice_no TEXT, invoice_date TEXT, delivery_ref TEXT) ON COMMIT DROP`); err != nil {
			return nil, err
		}
		w.staged = true
	} else if _, err := w.tx.Exec(w.ctx, `TRUNCATE compute_stage`); err != nil {
		return nil, err
	}
	n, err := w.cp.CopyFrom(w.ctx, "compute_stage", stageCols, &stageSource{w: w, vals: make([]any, len(stageCols))})
	if err != nil {
		return nil, err
	}
	if int(n) != len(w.pend) {
		return nil, fmt.Errorf("compute: COPY stored %d of %d rows", n, len(w.pend))
	}
	res, err := w.tx.Exec(w.ctx, `INSERT INTO compute_settlements (`+settlementInsertCols+`)
		SELECT contract_id, ?, line, period_start, period_end, card_milli, api_calls, amount, invoice_no, invoice_date, delivery_ref, 'submitted', ?, ?
		FROM compute_stage ON CONFLICT (invoice_no) DO NOTHING`, w.id, nanos(w.im.now), nanos(w.im.now))
	if err != nil {
		return nil, err
	}
	if got, _ := res.RowsAffected(); int(got) == len(w.pend) {
		return nil, nil
	}
	found, err := w.duplicates(`SELECT s.invoice_no, s.id, s.import_id, s.line, s.created_at, c.provider_id FROM compute_stage g
		JOIN compute_settlements s ON s.invoice_no = g.invoice_no JOIN compute_contracts c ON c.id = s.contract_id WHERE s.import_id <> ?`, w.id)
	if err != nil {
		return nil, err
	}
	if _, err := w.tx.Exec(w.ctx, `DELETE FROM compute_settlements s USING compute_stage g WHERE s.invoice_no = g.invoice_no AND s.import_id = ?`, w.id); err != nil {
		return nil, err
	}
	return found, nil
}

// stageSource feeds COPY from the chunk's accepted rows.
type stageSource struct {
	w    *writer
	i    int
	vals []any
}

func (s *stageSource) Next() bool { s.i++; return s.i <= len(s.w.pend) }

func (s *stageSource) Values() ([]any, error) {
	w := s.w
	r := &w.cand[w.pend[s.i-1]]
	v := s.vals
	v[0], v[1], v[2], v[3], v[4] = int64(r.line), r.ref.idArg(), w.date(r.start), w.date(r.end), r.card
	v[5], v[6], v[7], v[8], v[9] = r.calls, r.amt, r.invoice, w.date(r.idat), r.dref
	return v, nil
}

func (s *stageSource) Err() error { return nil }

// finish records the import and its audit row.
func (w *writer) finish(res *ImportResult) error {
	im := w.im
	stored := res.Errors
	if len(stored) > maxStoredErrors {
		stored = stored[:maxStoredErrors]
	}
	report, _ := json.Marshal(stored)
	if stored == nil {
		report = []byte("[]")
	}
	if _, err := w.tx.Exec(w.ctx, `INSERT INTO compute_imports (id, provider_id, sha256, filename, format, encoding, row_count, imported, refused, amount, report, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		res.ID, im.p.ID, res.SHA256, im.opt.Filename, res.Format, res.Encoding, res.Rows, res.Imported, res.Refused, int64(res.Amount), string(report), im.a.ID, nanos(im.now)); err != nil {
		return err
	}
	contracts := make([]string, 0, len(w.touched))
	for c := range w.touched {
		if c.accepted > 0 {
			contracts = append(contracts, c.id)
		}
	}
	slices.Sort(contracts)
	return im.s.record(w.ctx, w.tx, im.now, im.a, "settlements.import", "import", res.ID, "", nil, map[string]any{
		"filename": im.opt.Filename, "format": res.Format, "encoding": res.Encoding, "sha256": res.SHA256, "rows": res.Rows,
		"imported": res.Imported, "refused": res.Refused, "amount": res.Amount, "contracts": contracts, "strict": im.opt.Strict})
}
