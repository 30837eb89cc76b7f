package compute

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
)

// Row error codes of an import.
const (
	CodeMalformed       = "malformed"         // not a well-formed CSV record or JSON object
	CodeEncoding        = "encoding"          // the line is not valid text in the file's encoding
	CodeMissing         = "missing_field"     // a required field is empty
	CodeFieldCount      = "field_count"       // more or fewer fields than the header
	CodeInvalidDate     = "invalid_date"      // not a date
	CodeInvalidMoney    = "invalid_money"     // not yuan with at most 2 decimals
	CodeNegative        = "negative_amount"   // a negative amount or quantity
	CodeZeroAmount      = "zero_amount"       // an amount of 0
	CodeInvalidNumber   = "invalid_number"    // card-hours or API calls not a number
	CodeInvalidInvoice  = "invalid_invoice"   // an invoice number with other characters
	CodeUnknownContract = "unknown_contract"  // no such contract
	CodeForeign         = "not_your_contract" // another provider's contract
	CodePeriod          = "invalid_period"    // the period ends before it starts
	CodeOutsidePeriod   = "outside_period"    // outside the contract's period
	CodeFutureInvoice   = "future_invoice"    // an invoice dated after today
	CodeNoUsage         = "no_usage"          // a compute record without card-hours
	CodeDuplicate       = "duplicate_invoice" // the invoice number is already used
	CodeExceeds         = "exceeds_contract"  // the records would exceed the contract amount
)

// RowError is why one row of an import was refused.
type RowError struct {
	Line      int    `json:"line"`
	Field     string `json:"field,omitempty"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEn string `json:"message_en,omitempty"`
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s: %s", e.Line, e.Code, e.MessageEn) }

// ImportOptions tune an import.
type ImportOptions struct {
	Filename string // for the record and to guess the format
	// Format is "csv" or "jsonl"; empty guesses from Filename, then from
	// the content (a first character '{' is JSONL).
	Format string
	// Strict refuses the whole file when any row is bad. By default the
	// good rows are imported — all of them, atomically — and every bad
	// row is reported.
	Strict bool
	// Progress, when set, is called as the import advances.
	Progress func(Progress)
}

// Progress of an import.
type Progress struct {
	Phase string // "parse" (rows read) or "write" (rows stored)
	Done  int
	Total int // rows to store, in the write phase
}

// ImportResult is the outcome of an import. Committed says whether rows
// were stored; Replayed that the same file was imported before (its first
// result is returned and nothing changed).
type ImportResult struct {
	ID        string        `json:"id,omitempty"`
	Format    string        `json:"format"`
	Encoding  string        `json:"encoding"`
	SHA256    string        `json:"sha256"`
	Rows      int           `json:"rows"`
	Imported  int           `json:"imported"`
	Refused   int           `json:"refused"`
	Amount    money.Amount  `json:"amount"`
	Committed bool          `json:"committed"`
	Replayed  bool          `json:"replayed"`
	Errors    []RowError    `json:"errors"`
	Took      time.Duration `json:"took_ns"`
}

// maxStoredErrors bounds the errors kept with an import's record; the
// caller of the import gets all of them.
const maxStoredErrors = 10_000

// ImportRecords imports a provider's metering export (CSV or JSONL) of
// settlement records for its voucher customers. Each row names a
// contract (id or number), the period, card-hours and/or API calls, the
// amount in yuan, the invoice number and date, and optionally the
// delivery certificate (交付凭证). Bad rows are reported with their line
// number and reason; the good rows are stored in one transaction. An
// invoice number is used once on the whole platform: a duplicate names
// its first use. The same file again replays the first import.
//
// Columns (header names in English or Chinese): contract (合同编号),
// period_start (计费开始日期), period_end (计费结束日期), card_hours (卡时),
// api_calls (调用次数), amount (结算金额), invoice_no (发票号码),
// invoice_date (开票日期), delivery_ref (交付凭证号). Other columns are
// ignored.
func (s *Service) ImportRecords(ctx context.Context, a desk.Actor, r io.Reader, opt ImportOptions) (*ImportResult, error) {
	started := time.Now()
	p, err := s.ownApproved(ctx, s.db, a)
	if err != nil {
		return nil, err
	}
	// A file we can read twice is hashed first, so that a re-import is
	// answered before a row is read; any other stream is hashed as it
	// is read and checked at the end.
	sum := ""
	h := sha256.New()
	src := io.TeeReader(r, h)
	if rs, ok := r.(io.ReadSeeker); ok {
		if _, err := io.Copy(h, rs); err != nil {
			return nil, err
		}
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		sum = hex.EncodeToString(h.Sum(nil))
		if res, err := s.replay(ctx, p.ID, sum); res != nil || err != nil {
			return res, err
		}
		src = rs
	}
	br := bufio.NewReaderSize(src, 1<<20)
	dec, enc, err := detect(br)
	if err != nil {
		return nil, err
	}
	format := strings.ToLower(opt.Format)
	if format == "" {
		switch strings.ToLower(path.Ext(opt.Filename)) {
		case ".csv", ".txt":
			format = "csv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		}
	}
	in := bufio.NewReaderSize(dec, 1<<20)
	if format == "" {
		format = "csv"
		if b, _ := in.Peek(1); len(b) == 1 && b[0] == '{' {
			format = "jsonl"
		}
	}
	if format != "csv" && format != "jsonl" {
		return nil, invalid("format", "文件格式应为 csv 或 jsonl", "the format must be csv or jsonl")
	}
	im := s.newImporter(ctx, a, p, opt)
	im.res.Format, im.res.Encoding = format, enc

	// The parser streams checked rows to the writer, which plans and
	// stores them in one transaction as they come: two cores at work, and
	// no file held in memory — only the set of invoice numbers seen.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []row, 8)
	parsed := make(chan error, 1)
	go func() {
		defer close(batches)
		var err error
		if format == "csv" {
			err = im.readCSV(pctx, in, batches)
		} else {
			err = im.readJSONL(pctx, in, batches)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, br) // the digest names the whole file
		}
		im.res.SHA256 = sum
		if sum == "" {
			im.res.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
		parsed <- err
	}()
	res, err := im.store(batches, parsed)
	cancel()
	for range batches { // let the parser finish when the writer stopped early
	}
	if res != nil {
		res.Took = time.Since(started)
	}
	return res, err
}

// RecordInput is one settlement record sent through the API.
type RecordInput struct {
	Contract    string       `json:"contract"`
	PeriodStart string       `json:"period_start"`
	PeriodEnd   string       `json:"period_end"`
	CardHours   string       `json:"card_hours,omitempty"` // decimal, at most 3 places
	APICalls    int64        `json:"api_calls,omitempty"`
	Amount      money.Amount `json:"amount"`
	InvoiceNo   string       `json:"invoice_no"`
	InvoiceDate string       `json:"invoice_date"`
	DeliveryRef string       `json:"delivery_ref,omitempty"`
}

// SubmitRecords submits settlement records through the API: the same
// checks and atomicity as an import, line = the record's position (from
// 1); the same request again replays the first outcome.
func (s *Service) SubmitRecords(ctx context.Context, a desk.Actor, recs []RecordInput, opt ImportOptions) (*ImportResult, error) {
	if len(recs) == 0 {
		return nil, invalid("records", "没有结算记录", "no records")
	}
	if len(recs) > 100_000 {
		return nil, invalid("records", "单次最多提交100000条,更多请用文件导入", "at most 100,000 records per request; import a file for more")
	}
	var buf bytes.Buffer
	for _, r := range recs {
		m := map[string]any{"contract": r.Contract, "period_start": r.PeriodStart, "period_end": r.PeriodEnd, "amount": r.Amount,
			"invoice_no": r.InvoiceNo, "invoice_date": r.InvoiceDate, "card_hours": r.CardHours, "api_calls": strconv.FormatInt(r.APICalls, 10), "delivery_ref": r.DeliveryRef}
		if r.Amount < 0 {
			m["amount"] = "-" + money.Format(-int64(r.Amount))
		}
		b, _ := json.Marshal(m)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	opt.Format, opt.Filename = "jsonl", "api"
	res, err := s.ImportRecords(ctx, a, &buf, opt)
	if res != nil {
		res.Format = "api"
	}
	return res, err
}

// contractRef is what validating rows needs of a contract. The parser
// fills the first fields; the writer alone the others.
type contractRef struct {
	id, uscc, kind string
	starts, ends   policy.Date
	amount         int64

	loaded   bool
	boxed    any   // id as an argument, boxed once
	settled  int64 // stored before this import, not withdrawn (read in the writer's transaction)
	accepted int64 // in this import
}

func (c *contractRef) idArg() any {
	if c.boxed == nil {
		c.boxed = c.id
	}
	return c.boxed
}

// row is a row that passed the checks that need nothing but itself and
// its contract.
type row struct {
	ref              *contractRef
	line             int32
	start, end, idat policy.Date
	card, calls, amt int64
	invoice, dref    string
}

// rowsPerBatch is how many rows the parser hands the writer at a time.
const rowsPerBatch = 4096

// importer is one import: the parser's state (this file) and the
// writer's (importwrite.go).
type importer struct {
	s     *Service
	ctx   context.Context
	a     desk.Actor
	p     *Provider
	opt   ImportOptions
	today policy.Date
	now   time.Time
	res   ImportResult

	// the parser's
	byKey     map[string]int32 // contract id or number → index in refs; -1 unknown, -2 another provider's, -3 failed
	refs      []*contractRef
	errs      []RowError
	batch     []row
	out       chan<- []row
	failed    atomic.Bool // a row was refused: a strict import stores nothing
	lookupErr error

	progressMu sync.Mutex
}

func (s *Service) newImporter(ctx context.Context, a desk.Actor, p *Provider, opt ImportOptions) *importer {
	now := s.now()
	return &importer{s: s, ctx: ctx, a: a, p: p, opt: opt, now: now, today: today(now), byKey: map[string]int32{}}
}

func (im *importer) fail(line int, field, code, zh, en string) {
	im.errs = append(im.errs, RowError{Line: line, Field: field, Code: code, Message: zh, MessageEn: en})
	im.failed.Store(true)
}

// emit queues a checked row and hands a full batch to the writer.
func (im *importer) emit(ctx context.Context, r row) error {
	im.batch = append(im.batch, r)
	if len(im.batch) < rowsPerBatch {
		return nil
	}
	return im.send(ctx)
}

func (im *importer) send(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	select {
	case im.out <- im.batch:
	case <-ctx.Done():
		return ctx.Err()
	}
	im.batch = make([]row, 0, rowsPerBatch)
	return nil
}

// progress reports to the caller; parser and writer both report, one at a time.
func (im *importer) progress(phase string, done, total int) {
	if im.opt.Progress != nil {
		im.progressMu.Lock()
		defer im.progressMu.Unlock()
		im.opt.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

// columns of a metering export, and their header spellings.
const (
	colContract = iota
	colStart
	colEnd
	colCards
	colCalls
	colAmount
	colInvoice
	colInvoiceDate
	colDelivery
	ncols
)

var colNames = [ncols]string{"contract", "period_start", "period_end", "card_hours", "api_calls", "amount", "invoice_no", "invoice_date", "delivery_ref"}

var colRequired = [ncols]bool{true, true, true, false, false, true, true, true, false}

var headerAliases = map[string]int{}

func init() {
	for c, names := range [ncols][]string{
		{"contract", "contract_id", "contract_no", "contractno", "合同", "合同编号", "合同號", "合同編號", "合同id", "合同号"},
		{"period_start", "start", "start_date", "from", "计费开始日期", "计费开始", "开始日期", "服务开始日期", "計費開始日期", "開始日期"},
		{"period_end", "end", "end_date", "to", "计费结束日期", "计费结束", "结束日期", "服务结束日期", "計費結束日期", "結束日期"},
		{"card_hours", "gpu_hours", "cardhours", "卡时", "卡时数", "卡時", "卡時數", "算力卡时"},
		{"api_calls", "calls", "调用次数", "調用次數", "api调用次数"},
		{"amount", "fee", "fees", "金额", "结算金额", "金額", "結算金額", "结算金额(元)", "金额(元)"},
		{"invoice_no", "invoice", "invoice_number", "发票号", "发票号码", "發票號碼", "發票號"},
		{"invoice_date", "开票日期", "發票日期", "開票日期", "发票日期"},
		{"delivery_ref", "delivery", "delivery_certificate", "交付凭证", "交付凭证号", "交付憑證", "交付憑證號"},
	} {
		for _, n := range names {
			headerAliases[headerKey([]byte(n))] = c
		}
	}
}

func headerKey(b []byte) string {
	s := strings.ToLower(strings.TrimSpace(string(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))))
	s = strings.NewReplacer(" ", "", "（", "(", "）", ")", "-", "_").Replace(s)
	return s
}

// readCSV reads the header and every record.
func (im *importer) readCSV(ctx context.Context, in *bufio.Reader, out chan<- []row) error {
	im.out = out
	cr := &csvReader{lr: lineReader{br: in}}
	_, header, err := cr.read()
	if err == io.EOF {
		return invalid("file", "文件为空", "the file is empty")
	}
	var re *RowError
	if errors.As(err, &re) {
		return invalid("file", "第1行(表头)"+re.Message, "the header line is malformed")
	}
	if err != nil {
		return fileErr(err)
	}
	pos := [ncols]int{}
	for i := range pos {
		pos[i] = -1
	}
	for i, h := range header {
		if c, ok := headerAliases[headerKey(h)]; ok && pos[c] < 0 {
			pos[c] = i
		}
	}
	var missing []string
	for c := range ncols {
		if colRequired[c] && pos[c] < 0 {
			missing = append(missing, colNames[c])
		}
	}
	if len(missing) > 0 {
		return apperr.New(apperr.Invalid, "表头缺少必需的列:"+strings.Join(missing, "、")+"(第1行应为列名)", "the header lacks columns: "+strings.Join(missing, ", ")).WithField("file")
	}
	width := len(header)
	var f [ncols][]byte
	for {
		line, rec, err := cr.read()
		if err == io.EOF {
			return im.send(ctx)
		}
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				im.res.Rows++
				im.errs = append(im.errs, *re)
				im.failed.Store(true)
				continue
			}
			return fileErr(err)
		}
		if len(rec) == 1 && len(rec[0]) == 0 {
			continue // a blank line
		}
		im.res.Rows++
		if im.res.Rows > im.s.opt.MaxImportRows {
			return apperr.New(apperr.TooLarge, fmt.Sprintf("文件超过 %d 行上限,请分批导入", im.s.opt.MaxImportRows), "too many rows; split the file")
		}
		if len(rec) != width {
			im.fail(line, "", CodeFieldCount, fmt.Sprintf("字段数为 %d,表头为 %d", len(rec), width), fmt.Sprintf("%d fields, the header has %d", len(rec), width))
			continue
		}
		for c := range ncols {
			if pos[c] >= 0 {
				f[c] = rec[pos[c]]
			} else {
				f[c] = nil
			}
		}
		if err := im.row(ctx, line, &f); err != nil {
			return err
		}
		if im.res.Rows%100_000 == 0 {
			im.progress("parse", im.res.Rows, 0)
		}
	}
}

// flex is a JSON string or number, kept as its text.
type flex []byte

func (f *flex) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(s)
		return nil
	}
	if string(b) == "null" {
		*f = nil
		return nil
	}
	*f = append((*f)[:0], b...)
	return nil
}

type jsonRow struct {
	Contract    flex `json:"contract"`
	PeriodStart flex `json:"period_start"`
	PeriodEnd   flex `json:"period_end"`
	CardHours   flex `json:"card_hours"`
	APICalls    flex `json:"api_calls"`
	Amount      flex `json:"amount"`
	InvoiceNo   flex `json:"invoice_no"`
	InvoiceDate flex `json:"invoice_date"`
	DeliveryRef flex `json:"delivery_ref"`
}

// readJSONL reads one JSON object per line.
func (im *importer) readJSONL(ctx context.Context, in *bufio.Reader, out chan<- []row) error {
	im.out = out
	lr := lineReader{br: in}
	var f [ncols][]byte
	for {
		b, err := lr.next()
		if err == io.EOF {
			if im.res.Rows == 0 {
				return invalid("file", "文件为空", "the file is empty")
			}
			return im.send(ctx)
		}
		if err != nil {
			return fileErr(err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		im.res.Rows++
		if im.res.Rows > im.s.opt.MaxImportRows {
			return apperr.New(apperr.TooLarge, fmt.Sprintf("文件超过 %d 行上限,请分批导入", im.s.opt.MaxImportRows), "too many rows; split the file")
		}
		var j jsonRow
		if err := json.Unmarshal(b, &j); err != nil {
			im.fail(lr.line, "", CodeMalformed, "不是有效的 JSON 对象", "not a valid JSON object")
			continue
		}
		f = [ncols][]byte{j.Contract, j.PeriodStart, j.PeriodEnd, j.CardHours, j.APICalls, j.Amount, j.InvoiceNo, j.InvoiceDate, j.DeliveryRef}
		for c := range f {
			f[c] = bytes.TrimSpace(f[c])
		}
		if err := im.row(ctx, lr.line, &f); err != nil {
			return err
		}
	}
}

func fileErr(err error) error {
	var fe *errFatal
	if errors.As(err, &fe) {
		return apperr.New(apperr.Invalid, fe.zh+",整个文件未导入", fe.en+"; nothing was imported").WithField("file")
	}
	return err
}

// row checks one row on its own and against its contract, and keeps it
// for planning when it passes.
func (im *importer) row(ctx context.Context, line int, f *[ncols][]byte) error {
	for c := range ncols {
		if !textOK(f[c]) {
			im.fail(line, colNames[c], CodeEncoding, "第"+strconv.Itoa(line)+"行含有无法识别的字符(编码与文件其余部分不一致)", "the line is not valid text in the file's encoding")
			return nil
		}
		if colRequired[c] && len(f[c]) == 0 {
			im.fail(line, colNames[c], CodeMissing, "缺少"+colLabels[c], colNames[c]+" is missing")
			return nil
		}
	}
	r := row{line: int32(line)}
	var ok bool
	if r.start, ok = parseDate(f[colStart]); !ok {
		im.fail(line, "period_start", CodeInvalidDate, "计费开始日期「"+clip(f[colStart])+"」无效,应为 YYYY-MM-DD", "period_start is not a date")
		return nil
	}
	if r.end, ok = parseDate(f[colEnd]); !ok {
		im.fail(line, "period_end", CodeInvalidDate, "计费结束日期「"+clip(f[colEnd])+"」无效,应为 YYYY-MM-DD", "period_end is not a date")
		return nil
	}
	if r.idat, ok = parseDate(f[colInvoiceDate]); !ok {
		im.fail(line, "invoice_date", CodeInvalidDate, "开票日期「"+clip(f[colInvoiceDate])+"」无效,应为 YYYY-MM-DD", "invoice_date is not a date")
		return nil
	}
	amt, why := parseFixed(f[colAmount], 2)
	switch why {
	case numNegative:
		im.fail(line, "amount", CodeNegative, "结算金额不能为负数:"+clip(f[colAmount]), "negative amount")
		return nil
	case numOK:
	default:
		im.fail(line, "amount", CodeInvalidMoney, "结算金额「"+clip(f[colAmount])+"」无效(元,最多两位小数)", "amount is not yuan with at most 2 decimals")
		return nil
	}
	if amt == 0 {
		im.fail(line, "amount", CodeZeroAmount, "结算金额为0", "the amount is 0")
		return nil
	}
	r.amt = amt
	if len(f[colCards]) > 0 {
		if r.card, why = parseFixed(f[colCards], 3); why != numOK {
			code, zh := CodeInvalidNumber, "卡时「"+clip(f[colCards])+"」无效(最多三位小数)"
			if why == numNegative {
				code, zh = CodeNegative, "卡时不能为负数"
			}
			im.fail(line, "card_hours", code, zh, "card_hours is not a non-negative number with at most 3 decimals")
			return nil
		}
	}
	if len(f[colCalls]) > 0 {
		if r.calls, why = parseFixed(f[colCalls], 0); why != numOK {
			code, zh := CodeInvalidNumber, "调用次数「"+clip(f[colCalls])+"」应为非负整数"
			if why == numNegative {
				code, zh = CodeNegative, "调用次数不能为负数"
			}
			im.fail(line, "api_calls", code, zh, "api_calls is not a non-negative integer")
			return nil
		}
	}
	inv := f[colInvoice]
	if len(inv) > 50 || !invoiceChars(inv) {
		im.fail(line, "invoice_no", CodeInvalidInvoice, "发票号码「"+clip(inv)+"」无效(字母、数字和连字符,最长50位)", "the invoice number has other characters or is too long")
		return nil
	}
	if len(f[colDelivery]) > 100 {
		im.fail(line, "delivery_ref", CodeMalformed, "交付凭证号过长(最长100字符)", "delivery_ref is too long")
		return nil
	}
	ci := im.contract(f[colContract])
	switch ci {
	case -1:
		im.fail(line, "contract", CodeUnknownContract, "合同「"+clip(f[colContract])+"」不存在", "unknown contract")
		return nil
	case -2:
		im.fail(line, "contract", CodeForeign, "合同「"+clip(f[colContract])+"」不属于本服务商,不能为其报送结算", "the contract is another provider's")
		return nil
	case -3:
		return nil // the lookup failed: store reports im.lookupErr
	}
	c := im.refs[ci]
	r.ref = c
	switch {
	case r.end < r.start:
		im.fail(line, "period_end", CodePeriod, "计费结束日期早于开始日期", "the period ends before it starts")
		return nil
	case r.start < c.starts || r.end > c.ends:
		im.fail(line, "period_start", CodeOutsidePeriod, fmt.Sprintf("计费期间 %s 至 %s 超出合同服务期 %s 至 %s", r.start, r.end, c.starts, c.ends),
			fmt.Sprintf("the period %s–%s is outside the contract's %s–%s", r.start, r.end, c.starts, c.ends))
		return nil
	case r.idat > im.today:
		im.fail(line, "invoice_date", CodeFutureInvoice, "开票日期晚于今天", "the invoice is dated in the future")
		return nil
	case c.kind == KindCompute && r.card == 0:
		im.fail(line, "card_hours", CodeNoUsage, "算力结算须填写卡时", "a compute record needs card-hours")
		return nil
	}
	r.invoice = strings.ToUpper(string(inv))
	if len(f[colDelivery]) > 0 {
		r.dref = string(f[colDelivery])
	}
	return im.emit(ctx, r)
}

var colLabels = [ncols]string{"合同编号", "计费开始日期", "计费结束日期", "卡时", "调用次数", "结算金额", "发票号码", "开票日期", "交付凭证号"}

// textOK reports whether b is valid UTF-8 without replacement characters
// (which the GBK decoder leaves for bytes it cannot read).
func textOK(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return utf8.Valid(b) && !bytes.ContainsRune(b, utf8.RuneError)
		}
	}
	return true
}

func invoiceChars(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// clip shortens a field for a message.
func clip(b []byte) string {
	s := string(b)
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// contract resolves a contract id or number to its index in refs; -1 when
// unknown, -2 when another provider's, -3 when the lookup failed.
func (im *importer) contract(key []byte) int32 {
	if i, ok := im.byKey[string(key)]; ok {
		return i
	}
	k := string(key)
	i, err := im.lookup(k)
	if err != nil {
		im.lookupErr = err
		i = -3
	}
	if len(im.byKey) < 100_000 || i >= 0 {
		im.byKey[k] = i
	}
	return i
}

func (im *importer) lookup(k string) (int32, error) {
	q := `SELECT c.id, c.provider_id, c.uscc, c.kind, c.starts, c.ends, c.amount FROM compute_contracts c WHERE `
	row := im.s.db.QueryRow(im.ctx, q+`c.id = ?`, k)
	var id, prov, code, kind, starts, ends string
	var amount int64
	err := row.Scan(&id, &prov, &code, &kind, &starts, &ends, &amount)
	if errors.Is(err, sql.ErrNoRows) {
		err = im.s.db.QueryRow(im.ctx, q+`c.provider_id = ? AND c.number = ?`, im.p.ID, k).Scan(&id, &prov, &code, &kind, &starts, &ends, &amount)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return -1, nil
	}
	if err != nil {
		return -3, err
	}
	if prov != im.p.ID {
		return -2, nil
	}
	for i, r := range im.refs { // the same contract by id and by number
		if r.id == id {
			return int32(i), nil
		}
	}
	ref := &contractRef{id: id, uscc: code, kind: kind, amount: amount}
	ref.starts, _ = policy.ParseDate(starts)
	ref.ends, _ = policy.ParseDate(ends)
	im.refs = append(im.refs, ref)
	return int32(len(im.refs) - 1), nil
}

func settled(ctx context.Context, q querier, contractID string) (int64, error) {
	var sum sql.NullInt64
	err := q.QueryRow(ctx, `SELECT SUM(amount) FROM compute_settlements WHERE contract_id = ? AND state <> 'withdrawn'`, contractID).Scan(&sum)
	return sum.Int64, err
}

// replay returns the recorded result of an import of the same content.
func (s *Service) replay(ctx context.Context, providerID, sum string) (*ImportResult, error) {
	var res ImportResult
	var report string
	var amount int64
	err := s.db.QueryRow(ctx, `SELECT id, format, encoding, sha256, row_count, imported, refused, amount, report FROM compute_imports WHERE provider_id = ? AND sha256 = ?`,
		providerID, sum).Scan(&res.ID, &res.Format, &res.Encoding, &res.SHA256, &res.Rows, &res.Imported, &res.Refused, &amount, &report)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	res.Amount, res.Committed, res.Replayed = money.Amount(amount), true, true
	_ = json.Unmarshal([]byte(report), &res.Errors)
	return &res, nil
}
