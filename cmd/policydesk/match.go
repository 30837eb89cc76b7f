package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/money"
	"policydesk/policy"
)

func init() {
	register("match", "批量政策匹配(政策计算器/免申即享)match many enterprise profiles (JSONL or CSV)", runMatch)
}

type matchBatch struct {
	seq   int
	first int // line number of the first row
	rows  [][]byte
	csv   [][]string
	out   []byte
	n     int
}

func runMatch(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("match", io)
	bpath := bundleFlag(fs, io)
	format := fs.String("format", "", "输入格式 input format: jsonl or csv (默认按文件扩展名 default: by extension, else jsonl)")
	dateS := fs.String("date", "", "评估日期 evaluation date YYYY-MM-DD (默认今天 default: today)")
	outPath := fs.String("out", "-", "输出文件 output file (JSONL), - for stdout")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "并行数 parallel workers")
	progress := fs.String("progress", "auto", "进度条 progress bar on stderr: auto (only on a terminal), on, off")
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	b, err := loadBundle(*bpath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	date := policy.DateOf(time.Now())
	if *dateS != "" {
		if date, err = policy.ParseDate(*dateS); err != nil {
			fmt.Fprintln(io.err, "日期应为 YYYY-MM-DD / --date must be YYYY-MM-DD")
			return 2
		}
	}
	in := io.in
	var size int64
	inPath := fs.Arg(0)
	if inPath != "" && inPath != "-" {
		f, err := os.Open(inPath)
		if err != nil {
			fmt.Fprintf(io.err, "无法打开输入文件 / cannot open input: %v\n", err)
			return 2
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
		if *format == "" && strings.HasSuffix(strings.ToLower(inPath), ".csv") {
			*format = "csv"
		}
	}
	if *format == "" {
		*format = "jsonl"
	}
	if *format != "jsonl" && *format != "csv" {
		fmt.Fprintln(io.err, "--format 应为 jsonl 或 csv / must be jsonl or csv")
		return 2
	}
	out := io.out
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			fmt.Fprintf(io.err, "无法创建输出文件 / cannot create output: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	counter := &countingReader{r: in}
	showProgress := *progress == "on" || (*progress == "auto" && isTerminal(io.err))
	var done atomic.Int64
	stopBar := make(chan struct{})
	var barWG sync.WaitGroup
	if showProgress {
		barWG.Add(1)
		go func() {
			defer barWG.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopBar:
					drawBar(io.err, done.Load(), counter.n.Load(), size, true)
					return
				case <-t.C:
					drawBar(io.err, done.Load(), counter.n.Load(), size, false)
				}
			}
		}()
	}
	stats, err := matchStream(ctx, b, date, *format, counter, out, max(*workers, 1), &done)
	if showProgress {
		close(stopBar)
		barWG.Wait()
	}
	if err != nil {
		fmt.Fprintf(io.err, "匹配中止 / match stopped: %v\n", err)
		return 1
	}
	fmt.Fprintf(io.err, "完成:%d 家企业,%d 项可申请,%d 项待补充信息,%d 行有误;预计可获支持合计 %s 元\n", stats.profiles, stats.eligible, stats.incomplete, stats.bad, money.FormatGrouped(stats.total))
	if stats.bad > 0 {
		return 1
	}
	return 0
}

type matchStats struct {
	profiles, eligible, incomplete, bad int64
	total                               int64
}

// matchStream reads profiles in batches, matches them on workers and writes
// one JSON line per profile in input order.
func matchStream(ctx context.Context, b *policy.Bundle, date policy.Date, format string, in io.Reader, out io.Writer, workers int, done *atomic.Int64) (matchStats, error) {
	const batchSize = 512
	var stats matchStats
	var mu sync.Mutex
	batches := make(chan *matchBatch, workers*2)
	results := make(chan *matchBatch, workers*2)
	var readErr error
	go func() {
		defer close(batches)
		readErr = readBatches(ctx, format, in, batchSize, batches)
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local matchStats
			for bt := range batches {
				matchBatchRun(b, date, bt, &local)
				done.Add(int64(bt.n))
				results <- bt
			}
			mu.Lock()
			stats.profiles += local.profiles
			stats.eligible += local.eligible
			stats.incomplete += local.incomplete
			stats.bad += local.bad
			stats.total += local.total
			mu.Unlock()
		}()
	}
	go func() { wg.Wait(); close(results) }()
	w := bufio.NewWriterSize(out, 1<<20)
	pending := map[int]*matchBatch{}
	next := 0
	var writeErr error
	for bt := range results {
		pending[bt.seq] = bt
		for {
			p, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if writeErr == nil {
				_, writeErr = w.Write(p.out)
			}
			next++
		}
	}
	if writeErr == nil {
		writeErr = w.Flush()
	}
	if readErr != nil {
		return stats, readErr
	}
	return stats, writeErr
}

func readBatches(ctx context.Context, format string, in io.Reader, size int, batches chan<- *matchBatch) error {
	seq, line := 0, 0
	if format == "csv" {
		r := csv.NewReader(bufio.NewReaderSize(in, 1<<20))
		r.ReuseRecord = false
		r.FieldsPerRecord = -1
		header, err := r.Read()
		if err != nil {
			return fmt.Errorf("CSV 缺少表头 / CSV header: %w", err)
		}
		if len(header) > 0 {
			header[0] = strings.TrimPrefix(header[0], "\ufeff")
		}
		line = 1
		bt := &matchBatch{seq: seq, first: line + 1, csv: [][]string{header}}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			line++
			if err != nil {
				return fmt.Errorf("CSV 第 %d 行格式错误 / line %d: %w", line, line, err)
			}
			bt.csv = append(bt.csv, rec)
			if len(bt.csv) > size {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				batches <- bt
				seq++
				bt = &matchBatch{seq: seq, first: line + 1, csv: [][]string{header}}
			}
		}
		if len(bt.csv) > 1 {
			batches <- bt
		}
		return nil
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	bt := &matchBatch{seq: seq, first: 1}
	for sc.Scan() {
		line++
		row := append([]byte(nil), sc.Bytes()...)
		bt.rows = append(bt.rows, row)
		if len(bt.rows) == size {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			batches <- bt
			seq++
			bt = &matchBatch{seq: seq, first: line + 1}
		}
	}
	if len(bt.rows) > 0 {
		batches <- bt
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("第 %d 行之后读取失败 / reading after line %d: %w", line, line, err)
	}
	return nil
}

type offerOut struct {
	Item    string        `json:"item"`
	Name    string        `json:"name"`
	Article int           `json:"article"`
	Status  policy.Status `json:"status"`
	Amount  string        `json:"amount"`
	Missing []string      `json:"missing,omitempty"`
	Review  bool          `json:"review_required"`
}

type matchOut struct {
	Line   int                `json:"line"`
	USCC   string             `json:"uscc,omitempty"`
	Name   string             `json:"name,omitempty"`
	Offers []offerOut         `json:"offers,omitempty"`
	Total  string             `json:"total,omitempty"`
	Error  *policy.InputError `json:"error,omitempty"`
}

func matchBatchRun(b *policy.Bundle, date policy.Date, bt *matchBatch, st *matchStats) {
	var buf []byte
	emit := func(line int, p *policy.Profile, perr *policy.InputError) {
		st.profiles++
		o := matchOut{Line: line}
		if perr == nil {
			r := b.Match(date, p)
			o.USCC, o.Name = r.USCC, r.Name
			perr = r.Err
			if perr == nil {
				o.Total = money.Format(r.Total)
				st.total += r.Total
				o.Offers = make([]offerOut, 0, len(r.Offers))
				for _, of := range r.Offers {
					if of.Status == policy.Eligible {
						st.eligible++
					} else {
						st.incomplete++
					}
					o.Offers = append(o.Offers, offerOut{Item: of.Item, Name: of.Name, Article: of.Article, Status: of.Status, Amount: money.Format(of.Amount), Missing: of.Missing, Review: of.Review})
				}
			}
		}
		if perr != nil {
			st.bad++
			o.Error = perr
			o.Offers, o.Total = nil, ""
		}
		data, _ := json.Marshal(o)
		buf = append(buf, data...)
		buf = append(buf, '\n')
	}
	if bt.csv != nil {
		header := bt.csv[0]
		for i, rec := range bt.csv[1:] {
			p, perr := profileFromCSV(b, header, rec)
			emit(bt.first+i, p, perr)
		}
		bt.n = len(bt.csv) - 1
	} else {
		for i, row := range bt.rows {
			if len(strings.TrimSpace(string(row))) == 0 {
				continue
			}
			p, perr := b.ParseProfileJSON(row)
			emit(bt.first+i, p, perr)
		}
		bt.n = len(bt.rows)
	}
	bt.out = buf
	bt.rows, bt.csv = nil, nil
}

// profileFromCSV reads a row whose header names facts. Empty cells are
// unknown facts; cells holding JSON lists or objects (penalties, events)
// are decoded.
func profileFromCSV(b *policy.Bundle, header, rec []string) (*policy.Profile, *policy.InputError) {
	p := &policy.Profile{Facts: make(map[string]policy.Raw, len(header))}
	for i, h := range header {
		if i >= len(rec) {
			break
		}
		cell := strings.TrimSpace(rec[i])
		h = strings.TrimSpace(h)
		switch h {
		case "uscc":
			p.USCC = cell
			continue
		case "name":
			p.Name = cell
			continue
		}
		if cell == "" {
			continue
		}
		switch {
		case cell == "true" || cell == "false":
			p.Facts[h] = policy.Raw{Scalar: cell, IsBool: true}
		case cell[0] == '[' || cell[0] == '{':
			dec := json.NewDecoder(strings.NewReader(cell))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, &policy.InputError{Code: policy.CodeInvalidValue, Path: h, Message: "列 " + h + " 的 JSON 无效", MessageEn: "column " + h + ": invalid JSON"}
			}
			p.Facts[h] = policy.JSONRaw(v)
		default:
			p.Facts[h] = policy.Raw{Scalar: cell}
		}
	}
	return p, nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func drawBar(w io.Writer, done, read, size int64, final bool) {
	const width = 30
	frac := 0.0
	if size > 0 {
		frac = float64(read) / float64(size)
	}
	if final {
		frac = 1
	}
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	fmt.Fprintf(w, "\r匹配 matching [%s] %3.0f%%  %d 家企业", bar, frac*100, done)
	if final {
		fmt.Fprintln(w)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}
