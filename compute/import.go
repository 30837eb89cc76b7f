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
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
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
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 1<<20)
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
	im := s.newImporter(ctx, a, p, opt)
	im.res.Format, im.res.Encoding = format, enc
	switch format {
	case "csv":
		err = im.readCSV(in)
	case "jsonl":
		err = im.readJSONL(in)
	default:
		return nil, invalid("format", "文件格式应为 csv 或 jsonl", "the format must be csv or jsonl")
	}
	if err != nil {
		return nil, err
	}
	// Hash what is left unread too: the digest names the whole file.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	im.res.SHA256 = hex.EncodeToString(h.Sum(nil))
	res, err := im.finish()
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

// contractRef is what validating rows needs of a contract.
type contractRef struct {
	id, uscc, kind string
	starts, ends   policy.Date
	amount         int64
	settled        int64 // stored before this import, not withdrawn
	accepted       int64 // in this import, as planned
}

// row is a row that passed the checks that need nothing but itself and
// its contract.
type row struct {
	line, contract   int32
	start, end, idat policy.Date
	card, calls, amt int64
	invoice, dref    string
}

type importer struct {
	s        *Service
	ctx      context.Context
	a        desk.Actor
	p        *Provider
	opt      ImportOptions
	today    policy.Date
	now      time.Time
	byKey    map[string]int32 // contract id or number → index; -1 unknown, -2 another provider's
	refs     []*contractRef
	rows     []row
	errs     []RowError
	res      ImportResult
	dates    map[policy.Date]string
	invoices map[string]int32

	lookupErr error // a contract lookup failed: the import fails
}

func (s *Service) newImporter(ctx context.Context, a desk.Actor, p *Provider, opt ImportOptions) *importer {
	now := s.now()
	return &importer{s: s, ctx: ctx, a: a, p: p, opt: opt, now: now, today: today(now), byKey: map[string]int32{}, dates: map[policy.Date]string{}}
}

func (im *importer) fail(line int, field, code, zh, en string) {
	im.errs = append(im.errs, RowError{Line: line, Field: field, Code: code, Message: zh, MessageEn: en})
}

func (im *importer) progress(phase string, done, total int) {
	if im.opt.Progress != nil {
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
func (im *importer) readCSV(in *bufio.Reader) error {
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
			return nil
		}
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				im.res.Rows++
				im.errs = append(im.errs, *re)
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
		im.row(line, &f)
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
func (im *importer) readJSONL(in *bufio.Reader) error {
	lr := lineReader{br: in}
	var f [ncols][]byte
	for {
		b, err := lr.next()
		if err == io.EOF {
			if im.res.Rows == 0 {
				return invalid("file", "文件为空", "the file is empty")
			}
			return nil
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
		im.row(lr.line, &f)
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
func (im *importer) row(line int, f *[ncols][]byte) {
	for c := range ncols {
		if !textOK(f[c]) {
			im.fail(line, colNames[c], CodeEncoding, "第"+strconv.Itoa(line)+"行含有无法识别的字符(编码与文件其余部分不一致)", "the line is not valid text in the file's encoding")
			return
		}
		if colRequired[c] && len(f[c]) == 0 {
			im.fail(line, colNames[c], CodeMissing, "缺少"+colLabels[c], colNames[c]+" is missing")
			return
		}
	}
	r := row{line: int32(line)}
	var ok bool
	if r.start, ok = parseDate(f[colStart]); !ok {
		im.fail(line, "period_start", CodeInvalidDate, "计费开始日期「"+clip(f[colStart])+"」无效,应为 YYYY-MM-DD", "period_start is not a date")
		return
	}
	if r.end, ok = parseDate(f[colEnd]); !ok {
		im.fail(line, "period_end", CodeInvalidDate, "计费结束日期「"+clip(f[colEnd])+"」无效,应为 YYYY-MM-DD", "period_end is not a date")
		return
	}
	if r.idat, ok = parseDate(f[colInvoiceDate]); !ok {
		im.fail(line, "invoice_date", CodeInvalidDate, "开票日期「"+clip(f[colInvoiceDate])+"」无效,应为 YYYY-MM-DD", "invoice_date is not a date")
		return
	}
	amt, why := parseFixed(f[colAmount], 2)
	switch why {
	case numNegative:
		im.fail(line, "amount", CodeNegative, "结算金额不能为负数:"+clip(f[colAmount]), "negative amount")
		return
	case numOK:
	default:
		im.fail(line, "amount", CodeInvalidMoney, "结算金额「"+clip(f[colAmount])+"」无效(元,最多两位小数)", "amount is not yuan with at most 2 decimals")
		return
	}
	if amt == 0 {
		im.fail(line, "amount", CodeZeroAmount, "结算金额为0", "the amount is 0")
		return
	}
	r.amt = amt
	if len(f[colCards]) > 0 {
		if r.card, why = parseFixed(f[colCards], 3); why != numOK {
			code, zh := CodeInvalidNumber, "卡时「"+clip(f[colCards])+"」无效(最多三位小数)"
			if why == numNegative {
				code, zh = CodeNegative, "卡时不能为负数"
			}
			im.fail(line, "card_hours", code, zh, "card_hours is not a non-negative number with at most 3 decimals")
			return
		}
	}
	if len(f[colCalls]) > 0 {
		if r.calls, why = parseFixed(f[colCalls], 0); why != numOK {
			code, zh := CodeInvalidNumber, "调用次数「"+clip(f[colCalls])+"」应为非负整数"
			if why == numNegative {
				code, zh = CodeNegative, "调用次数不能为负数"
			}
			im.fail(line, "api_calls", code, zh, "api_calls is not a non-negative integer")
			return
		}
	}
	inv := f[colInvoice]
	if len(inv) > 50 || !invoiceChars(inv) {
		im.fail(line, "invoice_no", CodeInvalidInvoice, "发票号码「"+clip(inv)+"」无效(字母、数字和连字符,最长50位)", "the invoice number has other characters or is too long")
		return
	}
	if len(f[colDelivery]) > 100 {
		im.fail(line, "delivery_ref", CodeMalformed, "交付凭证号过长(最长100字符)", "delivery_ref is too long")
		return
	}
	ci := im.contract(f[colContract])
	switch ci {
	case -1:
		im.fail(line, "contract", CodeUnknownContract, "合同「"+clip(f[colContract])+"」不存在", "unknown contract")
		return
	case -2:
		im.fail(line, "contract", CodeForeign, "合同「"+clip(f[colContract])+"」不属于本服务商,不能为其报送结算", "the contract is another provider's")
		return
	case -3:
		return // the lookup failed: finish reports im.lookupErr
	}
	c := im.refs[ci]
	switch {
	case r.end < r.start:
		im.fail(line, "period_end", CodePeriod, "计费结束日期早于开始日期", "the period ends before it starts")
		return
	case r.start < c.starts || r.end > c.ends:
		im.fail(line, "period_start", CodeOutsidePeriod, fmt.Sprintf("计费期间 %s 至 %s 超出合同服务期 %s 至 %s", r.start, r.end, c.starts, c.ends),
			fmt.Sprintf("the period %s–%s is outside the contract's %s–%s", r.start, r.end, c.starts, c.ends))
		return
	case r.idat > im.today:
		im.fail(line, "invoice_date", CodeFutureInvoice, "开票日期晚于今天", "the invoice is dated in the future")
		return
	case c.kind == KindCompute && r.card == 0:
		im.fail(line, "card_hours", CodeNoUsage, "算力结算须填写卡时", "a compute record needs card-hours")
		return
	}
	r.contract = ci
	r.invoice = strings.ToUpper(string(inv))
	if len(f[colDelivery]) > 0 {
		r.dref = string(f[colDelivery])
	}
	im.rows = append(im.rows, r)
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
	if ref.settled, err = settled(im.ctx, im.s.db, id); err != nil {
		return -3, err
	}
	im.refs = append(im.refs, ref)
	return int32(len(im.refs) - 1), nil
}

func settled(ctx context.Context, q querier, contractID string) (int64, error) {
	var sum sql.NullInt64
	err := q.QueryRow(ctx, `SELECT SUM(amount) FROM compute_settlements WHERE contract_id = ? AND state <> 'withdrawn'`, contractID).Scan(&sum)
	return sum.Int64, err
}

// errRedo asks finish to plan again: the database knew something the
// plan did not (an invoice used by another import, a contract's total
// changed by a concurrent import).
var errRedo = errors.New("compute: plan again")

// plan decides which rows are stored, in file order: a row whose invoice
// is already used (in the database, dbDup, or earlier in the file) or
// that would take its contract's records over the contract amount is
// refused.
func (im *importer) plan(dbDup map[int32]string) ([]int32, []RowError) {
	var errs []RowError
	good := make([]int32, 0, len(im.rows))
	im.invoices = make(map[string]int32, len(im.rows))
	for _, c := range im.refs {
		c.accepted = 0
	}
	for i := range im.rows {
		r := &im.rows[i]
		line := int(r.line)
		if msg, ok := dbDup[r.line]; ok {
			errs = append(errs, RowError{Line: line, Field: "invoice_no", Code: CodeDuplicate, Message: "发票号码 " + r.invoice + " 已被使用:" + msg, MessageEn: "invoice " + r.invoice + " is already used"})
			continue
		}
		if first, ok := im.invoices[r.invoice]; ok {
			errs = append(errs, RowError{Line: line, Field: "invoice_no", Code: CodeDuplicate, Message: fmt.Sprintf("发票号码 %s 与本文件第 %d 行重复", r.invoice, first),
				MessageEn: fmt.Sprintf("invoice %s repeats line %d of this file", r.invoice, first)})
			continue
		}
		c := im.refs[r.contract]
		if c.settled+c.accepted+r.amt > c.amount {
			errs = append(errs, RowError{Line: line, Field: "amount", Code: CodeExceeds,
				Message:   fmt.Sprintf("合同结算累计将达 %s 元,超过合同金额 %s 元", money.FormatGrouped(c.settled+c.accepted+r.amt), money.FormatGrouped(c.amount)),
				MessageEn: "the contract's records would exceed its amount"})
			continue
		}
		c.accepted += r.amt
		im.invoices[r.invoice] = r.line
		good = append(good, int32(i))
	}
	return good, errs
}

// finish plans, stores and reports.
func (im *importer) finish() (*ImportResult, error) {
	if im.lookupErr != nil {
		return nil, im.lookupErr
	}
	if replay, err := im.s.replay(im.ctx, im.p.ID, im.res.SHA256); replay != nil || err != nil {
		return replay, err
	}
	for _, e := range im.errs {
		if e.Code == "" {
			return nil, errors.New("compute: a row error without a code")
		}
	}
	var dbDup map[int32]string
	for attempt := 0; ; attempt++ {
		good, planErrs := im.plan(dbDup)
		errs := append(slices.Clone(im.errs), planErrs...)
		slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
		res := im.res
		res.Errors, res.Refused, res.Imported = errs, len(errs), len(good)
		var amount int64
		for _, i := range good {
			amount += im.rows[i].amt
		}
		res.Amount = money.Amount(amount)
		if len(good) == 0 || (im.opt.Strict && len(errs) > 0) {
			res.Imported = 0
			return &res, nil
		}
		found, replay, err := im.write(&res, good)
		if replay != nil {
			return replay, nil
		}
		if errors.Is(err, errRedo) && attempt < 5 {
			for line, msg := range found {
				if dbDup == nil {
					dbDup = map[int32]string{}
				}
				dbDup[line] = msg
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Committed = true
		return &res, nil
	}
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

func (im *importer) date(d policy.Date) string {
	if s, ok := im.dates[d]; ok {
		return s
	}
	s := d.String()
	im.dates[d] = s
	return s
}

// write stores the planned rows with the import's record and audit row in
// one transaction. found lists rows whose invoice turned out to be used
// already (errRedo); replay is set when the same file was imported
// meanwhile.
func (im *importer) write(res *ImportResult, good []int32) (found map[int32]string, replay *ImportResult, err error) {
	s := im.s
	res.ID = newID("imp")
	body := func(tx *store.Tx, cp store.Copier) error {
		found = nil
		if tx.Dialect() == store.Postgres {
			// Imports and API submissions take turns: the duplicate check
			// below then sees every invoice committed before it.
			if _, err := tx.Exec(im.ctx, `SELECT pg_advisory_xact_lock(7263541)`); err != nil {
				return err
			}
		}
		for _, c := range im.refs {
			now, err := settled(im.ctx, tx, c.id)
			if err != nil {
				return err
			}
			if now != c.settled {
				c.settled = now
				return errRedo
			}
		}
		var err error
		if cp.Available() {
			found, err = im.copyRows(tx, cp, res.ID, good)
		} else {
			found, err = im.insertRows(tx, res.ID, good)
		}
		if err != nil {
			return err
		}
		if len(found) > 0 {
			return errRedo
		}
		stored := res.Errors
		if len(stored) > maxStoredErrors {
			stored = stored[:maxStoredErrors]
		}
		report, _ := json.Marshal(stored)
		if stored == nil {
			report = []byte("[]")
		}
		if _, err := tx.Exec(im.ctx, `INSERT INTO compute_imports (id, provider_id, sha256, filename, format, encoding, row_count, imported, refused, amount, report, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			res.ID, im.p.ID, res.SHA256, im.opt.Filename, res.Format, res.Encoding, res.Rows, res.Imported, res.Refused, int64(res.Amount), string(report), im.a.ID, nanos(im.now)); err != nil {
			return err
		}
		contracts := make([]string, 0, len(im.refs))
		for _, c := range im.refs {
			if c.accepted > 0 {
				contracts = append(contracts, c.id)
			}
		}
		return s.record(im.ctx, tx, im.now, im.a, "settlements.import", "import", res.ID, "", nil, map[string]any{
			"filename": im.opt.Filename, "format": res.Format, "encoding": res.Encoding, "sha256": res.SHA256, "rows": res.Rows,
			"imported": res.Imported, "refused": res.Refused, "amount": res.Amount, "contracts": contracts, "strict": im.opt.Strict})
	}
	if s.db.Dialect() == store.Postgres {
		err = s.db.TxCopy(im.ctx, body)
	} else {
		err = s.db.Tx(im.ctx, func(tx *store.Tx) error { return body(tx, store.Copier{}) })
	}
	if err != nil && store.IsUniqueViolation(err) {
		// The same file committed by a concurrent import: its result.
		if r, rerr := s.replay(im.ctx, im.p.ID, res.SHA256); r != nil && rerr == nil {
			return nil, r, nil
		}
	}
	return found, nil, err
}

const settlementInsertCols = `contract_id, import_id, line, period_start, period_end, card_milli, api_calls, amount, invoice_no, invoice_date, delivery_ref, state, created_at, updated_at`

// insertRows stores rows with multi-row INSERTs of a prepared statement
// (SQLite). The import id and the time, the same for every row, are
// literals of the statement (our own id and an integer); parameters are
// plain ? marks, since modernc's SQLite looks up a numbered parameter's
// name at every bind, which is quadratic in a statement's parameters. A
// conflicting invoice is skipped (DO NOTHING) and looked up afterwards.
func (im *importer) insertRows(tx *store.Tx, importID string, good []int32) (map[int32]string, error) {
	const perRow = 10
	n := im.s.opt.InsertRows
	consts := fmt.Sprintf("'%s', ", strings.ReplaceAll(importID, "'", "''"))
	at := strconv.FormatInt(nanos(im.now), 10)
	stmt := func(k int) string {
		var b strings.Builder
		b.WriteString(`INSERT INTO compute_settlements (` + settlementInsertCols + `) VALUES `)
		for i := range k {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, " + consts + "?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', " + at + ", " + at + ")")
		}
		b.WriteString(` ON CONFLICT (invoice_no) DO NOTHING`)
		return b.String()
	}
	full, err := tx.Prepare(im.ctx, stmt(n))
	if err != nil {
		return nil, err
	}
	defer full.Close()
	args := make([]any, n*perRow)
	var found map[int32]string
	done := 0
	for len(good) > 0 {
		k := min(n, len(good))
		chunk := good[:k]
		good = good[k:]
		a := args[:k*perRow]
		for i, ri := range chunk {
			r := &im.rows[ri]
			o := i * perRow
			a[o], a[o+1], a[o+2], a[o+3] = im.refs[r.contract].id, int64(r.line), im.date(r.start), im.date(r.end)
			a[o+4], a[o+5], a[o+6], a[o+7], a[o+8], a[o+9] = r.card, r.calls, r.amt, r.invoice, im.date(r.idat), r.dref
		}
		var res sql.Result
		if k == n {
			res, err = full.ExecContext(im.ctx, a...)
		} else {
			res, err = tx.Exec(im.ctx, stmt(k), a...)
		}
		if err != nil {
			return nil, err
		}
		if got, _ := res.RowsAffected(); int(got) != k {
			if found, err = im.duplicates(tx, importID, chunk, found); err != nil {
				return nil, err
			}
		}
		done += k
		if done%100_000 < k {
			im.progress("write", done, done+len(good))
		}
	}
	im.progress("write", done, done)
	return found, nil
}

// duplicates finds the rows of chunk whose invoice another record holds.
func (im *importer) duplicates(tx *store.Tx, importID string, chunk []int32, found map[int32]string) (map[int32]string, error) {
	byInvoice := make(map[string]int32, len(chunk))
	args := make([]any, 0, len(chunk)+1)
	args = append(args, importID)
	for _, ri := range chunk {
		r := &im.rows[ri]
		byInvoice[r.invoice] = r.line
		args = append(args, r.invoice)
	}
	rows, err := tx.Query(im.ctx, `SELECT s.invoice_no, s.id, s.import_id, s.line, s.created_at, c.provider_id FROM compute_settlements s JOIN compute_contracts c ON c.id = s.contract_id
		WHERE s.import_id <> ? AND s.invoice_no IN (`+store.Placeholders(len(chunk))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var inv, imp, prov string
		var id, line, at int64
		if err := rows.Scan(&inv, &id, &imp, &line, &at, &prov); err != nil {
			return nil, err
		}
		if found == nil {
			found = map[int32]string{}
		}
		found[byInvoice[inv]] = im.firstUse(id, imp, line, at, prov)
	}
	return found, rows.Err()
}

// firstUse names the record that used an invoice first; another
// provider's record is named without its contract.
func (im *importer) firstUse(id int64, importID string, line, at int64, provider string) string {
	when := fromNanos(at).In(beijing).Format("2006-01-02 15:04")
	if provider != im.p.ID {
		return fmt.Sprintf("其他服务商的结算记录 #%d(%s 报送)", id, when)
	}
	return fmt.Sprintf("结算记录 #%d(导入批次 %s 第 %d 行,%s 报送)", id, importID, line, when)
}

// copyRows stores rows on PostgreSQL: COPY into a temporary staging table,
// a join against the stored invoices, then one INSERT … SELECT.
func (im *importer) copyRows(tx *store.Tx, cp store.Copier, importID string, good []int32) (map[int32]string, error) {
	if _, err := tx.Exec(im.ctx, `CREATE TEMPORARY TABLE compute_stage (line BIGINT, contract_id TEXT, period_start TEXT, period_end TEXT,
		card_milli BIGINT, api_calls BIGINT, amount BIGINT, invoice_no TEXT, invoice_date TEXT, delivery_ref TEXT) ON COMMIT DROP`); err != nil {
		return nil, err
	}
	src := &stageSource{im: im, good: good, vals: make([]any, 10)}
	n, err := cp.CopyFrom(im.ctx, "compute_stage", []string{"line", "contract_id", "period_start", "period_end", "card_milli", "api_calls", "amount", "invoice_no", "invoice_date", "delivery_ref"}, src)
	if err != nil {
		return nil, err
	}
	if int(n) != len(good) {
		return nil, fmt.Errorf("compute: COPY stored %d of %d rows", n, len(good))
	}
	im.progress("write", len(good)/2, len(good))
	rows, err := tx.Query(im.ctx, `SELECT g.line, s.id, s.import_id, s.line, s.created_at, c.provider_id FROM compute_stage g
		JOIN compute_settlements s ON s.invoice_no = g.invoice_no JOIN compute_contracts c ON c.id = s.contract_id`)
	if err != nil {
		return nil, err
	}
	var found map[int32]string
	for rows.Next() {
		var gl, id, line, at int64
		var imp, prov string
		if err := rows.Scan(&gl, &id, &imp, &line, &at, &prov); err != nil {
			rows.Close()
			return nil, err
		}
		if found == nil {
			found = map[int32]string{}
		}
		found[int32(gl)] = im.firstUse(id, imp, line, at, prov)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(found) > 0 {
		return found, err
	}
	res, err := tx.Exec(im.ctx, `INSERT INTO compute_settlements (`+settlementInsertCols+`)
		SELECT contract_id, ?, line, period_start, period_end, card_milli, api_calls, amount, invoice_no, invoice_date, delivery_ref, 'submitted', ?, ?
		FROM compute_stage ON CONFLICT (invoice_no) DO NOTHING`, importID, nanos(im.now), nanos(im.now))
	if err != nil {
		return nil, err
	}
	if got, _ := res.RowsAffected(); int(got) != len(good) {
		return nil, errRedo // cannot happen under the lock; plan again if it does
	}
	im.progress("write", len(good), len(good))
	return nil, nil
}

// stageSource feeds COPY from the planned rows.
type stageSource struct {
	im   *importer
	good []int32
	i    int
	vals []any
}

func (s *stageSource) Next() bool { s.i++; return s.i <= len(s.good) }

func (s *stageSource) Values() ([]any, error) {
	im := s.im
	r := &im.rows[s.good[s.i-1]]
	v := s.vals
	v[0], v[1], v[2], v[3], v[4] = int64(r.line), im.refs[r.contract].id, im.date(r.start), im.date(r.end), r.card
	v[5], v[6], v[7], v[8], v[9] = r.calls, r.amt, r.invoice, im.date(r.idat), r.dref
	if s.i%100_000 == 0 {
		im.progress("write", s.i/2, len(s.good))
	}
	return v, nil
}

func (s *stageSource) Err() error { return nil }
