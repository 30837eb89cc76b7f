package compute

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"policydesk/apperr"
	"policydesk/policy"
)

// Metering exports arrive as CSV (UTF-8, or GBK as Chinese spreadsheets
// save it) or JSONL. The reader below streams them: a million rows are
// parsed without holding the file, and without encoding/csv's allocation
// per field — lines without quotes (nearly all) are split in place.

const (
	maxLine   = 1 << 20 // bytes in one physical line
	maxRecord = 4 << 20 // bytes in one CSV record (quoted fields may span lines)
)

// detect picks the file's encoding from its first 64 KiB: UTF-8 (a BOM is
// dropped), or GBK when the bytes are not UTF-8 but decode as GBK. UTF-16
// and anything else are refused with a clear message.
func detect(br *bufio.Reader) (io.Reader, string, error) {
	p, _ := br.Peek(64 << 10)
	switch {
	case bytes.HasPrefix(p, []byte("\xef\xbb\xbf")):
		br.Discard(3)
		return br, "utf-8", nil
	case bytes.HasPrefix(p, []byte("\xff\xfe")), bytes.HasPrefix(p, []byte("\xfe\xff")):
		return nil, "", apperr.New(apperr.Invalid, "文件为 UTF-16 编码(Excel“Unicode 文本”),请另存为 UTF-8 或 GBK 编码的 CSV", "the file is UTF-16; save it as UTF-8 or GBK CSV").WithField("file")
	}
	if bytes.IndexByte(p, 0) >= 0 {
		return nil, "", apperr.New(apperr.Invalid, "文件不是文本格式的 CSV 或 JSONL(含二进制内容,XLSX 请另存为 CSV)", "the file is not CSV or JSONL text (binary content; save XLSX as CSV)").WithField("file")
	}
	whole := p
	if len(p) == 64<<10 {
		if i := bytes.LastIndexByte(p, '\n'); i > 0 {
			whole = p[:i+1] // complete lines only: no character cut in two
		}
	}
	if utf8.Valid(whole) {
		return br, "utf-8", nil
	}
	dec, _, err := transform.Bytes(simplifiedchinese.GBK.NewDecoder(), whole)
	if err == nil && utf8.Valid(dec) && !bytes.ContainsRune(dec, utf8.RuneError) {
		return transform.NewReader(br, simplifiedchinese.GBK.NewDecoder()), "gbk", nil
	}
	return nil, "", apperr.New(apperr.Invalid, "文件编码无法识别:请使用 UTF-8 或 GBK 编码", "unknown encoding: use UTF-8 or GBK").WithField("file")
}

// lineReader reads physical lines, counting them.
type lineReader struct {
	br   *bufio.Reader
	line int    // number of the last line returned
	long []byte // a line longer than the buffer, assembled
}

// errFatal marks a problem after which the rest of the file cannot be
// read reliably: the whole file is refused.
type errFatal struct{ zh, en string }

func (e *errFatal) Error() string { return e.en }

// next returns the next line without its line break; valid until the next
// call. io.EOF after the last line.
func (r *lineReader) next() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(r.long) > maxLine {
				return nil, &errFatal{fmt.Sprintf("第 %d 行过长(超过1MB)", r.line+1), fmt.Sprintf("line %d is longer than 1 MB", r.line+1)}
			}
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(b) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	r.line++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return b, nil
}

// csvReader splits records into fields (RFC 4180: quoted fields with ""
// for a quote, which may span lines). Fields are trimmed of spaces.
type csvReader struct {
	lr     lineReader
	fields [][]byte
	rec    []byte
	buf    []byte
	offs   []int
}

// read returns the next record and the number of its first line. A
// malformed record is a *RowError; io.EOF at the end.
func (r *csvReader) read() (int, [][]byte, error) {
	line, err := r.lr.next()
	if err != nil {
		return 0, nil, err
	}
	start := r.lr.line
	if bytes.IndexByte(line, '"') < 0 {
		r.fields = r.fields[:0]
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				r.fields = append(r.fields, bytes.TrimSpace(line))
				return start, r.fields, nil
			}
			r.fields = append(r.fields, bytes.TrimSpace(line[:i]))
			line = line[i+1:]
		}
	}
	r.rec = append(r.rec[:0], line...)
	for {
		done, bad := r.quoted()
		if bad != "" {
			return start, nil, &RowError{Line: start, Code: CodeMalformed, Message: "CSV 格式错误:" + bad, MessageEn: "malformed CSV"}
		}
		if done {
			return start, r.fields, nil
		}
		more, err := r.lr.next()
		if err == io.EOF {
			return start, nil, &errFatal{fmt.Sprintf("CSV 第 %d 行的引号未闭合,文件其余部分无法读取", start), fmt.Sprintf("the quote opened on line %d is never closed", start)}
		}
		if err != nil {
			return start, nil, err
		}
		if len(r.rec)+len(more) > maxRecord {
			return start, nil, &errFatal{fmt.Sprintf("CSV 第 %d 行起的记录过长", start), fmt.Sprintf("the record from line %d is too long", start)}
		}
		r.rec = append(append(r.rec, '\n'), more...)
	}
}

// quoted parses r.rec into r.fields; done is false when a quoted field is
// still open at the end (it continues on the next line).
func (r *csvReader) quoted() (done bool, bad string) {
	rec := r.rec
	r.buf, r.offs = r.buf[:0], r.offs[:0]
	i := 0
	for {
		// skip leading spaces of the field
		for i < len(rec) && rec[i] == ' ' {
			i++
		}
		startOff := len(r.buf)
		if i < len(rec) && rec[i] == '"' {
			i++
			for {
				if i >= len(rec) {
					return false, ""
				}
				c := rec[i]
				if c == '"' {
					if i+1 < len(rec) && rec[i+1] == '"' {
						r.buf = append(r.buf, '"')
						i += 2
						continue
					}
					i++
					break
				}
				r.buf = append(r.buf, c)
				i++
			}
			for i < len(rec) && rec[i] == ' ' {
				i++
			}
			if i < len(rec) && rec[i] != ',' {
				return true, "引号后有多余字符"
			}
		} else {
			j := i
			for j < len(rec) && rec[j] != ',' {
				if rec[j] == '"' {
					return true, "未加引号的字段中有引号"
				}
				j++
			}
			r.buf = append(r.buf, bytes.TrimSpace(rec[i:j])...)
			i = j
		}
		r.offs = append(r.offs, startOff, len(r.buf))
		if i >= len(rec) {
			break
		}
		i++ // the comma
	}
	r.fields = r.fields[:0]
	for k := 0; k < len(r.offs); k += 2 {
		r.fields = append(r.fields, r.buf[r.offs[k]:r.offs[k+1]])
	}
	return true, ""
}

// Field parsers work on bytes, without allocating.

// parseDate reads YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD.
func parseDate(b []byte) (policy.Date, bool) {
	var y, m, d int
	switch {
	case len(b) == 10 && (b[4] == '-' || b[4] == '/') && b[7] == b[4]:
		y, m, d = digits(b[0:4]), digits(b[5:7]), digits(b[8:10])
	case len(b) == 8:
		y, m, d = digits(b[0:4]), digits(b[4:6]), digits(b[6:8])
	default:
		return 0, false
	}
	if y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return policy.Date(daysFromCivil(y, m, d)), true
}

func digits(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 (Howard Hinnant's
// algorithm), for years ≥ 0.
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// Number problems.
const (
	numOK       = ""
	numNegative = "negative"
	numSyntax   = "syntax"
	numDecimals = "decimals"
	numTooLarge = "too_large"
)

// parseFixed reads a non-negative decimal with at most scale decimals and
// returns it × 10^scale.
func parseFixed(b []byte, scale int) (int64, string) {
	if len(b) == 0 {
		return 0, numSyntax
	}
	if b[0] == '-' {
		return 0, numNegative
	}
	var n int64
	frac := -1
	nd := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if frac >= 0 {
				frac++
				if frac > scale {
					return 0, numDecimals
				}
			}
			nd++
			if nd > 17 {
				return 0, numTooLarge
			}
			n = n*10 + int64(c-'0')
		case c == '.' && frac < 0 && nd > 0:
			frac = 0
		default:
			return 0, numSyntax
		}
	}
	if nd == 0 || frac == 0 {
		return 0, numSyntax
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < scale; frac++ {
		if n > (1<<62)/10 {
			return 0, numTooLarge
		}
		n *= 10
	}
	return n, numOK
}
