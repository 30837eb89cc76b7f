package calendar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds an uploaded calendar file.
const MaxFileSize = 1 << 20

// Year bounds of the data: the present holiday system dates from 1999.
const (
	minYear = 1999
	maxYear = 2100
)

// maxRange bounds one holiday's range in days; the longest ever was 10.
const maxRange = 31

// LineError is one fault of a calendar file, at a line (1-based; 0 when it
// concerns the file as a whole). Load returns every fault it finds joined
// with errors.Join, so a UI can list them all; errors.As finds the first.
type LineError struct {
	Line int
	// Msg says what is wrong, in Simplified Chinese then English.
	Msg string
}

// Error writes "calendar: line N: message".
func (e *LineError) Error() string {
	if e.Line == 0 {
		return "calendar: " + e.Msg
	}
	return fmt.Sprintf("calendar: line %d: %s", e.Line, e.Msg)
}

// LineErrors returns the faults in an error returned by Load, in line order.
func LineErrors(err error) []*LineError {
	var out []*LineError
	var walk func(error)
	walk = func(err error) {
		if le, ok := err.(*LineError); ok {
			out = append(out, le)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// Load reads a calendar file in the format of the embedded cn-workdays.yaml
// and checks it strictly: unknown fields, malformed or impossible dates,
// dates outside their year, a date listed twice or both as a holiday and a
// make-up day, a make-up day that is not a Saturday or Sunday, a make-up
// day for a holiday the year does not have, a year listed twice, and a
// confirmed year without its source notice are all errors, with their
// line. A file larger than MaxFileSize is refused.
func Load(r io.Reader) (*Calendar, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("calendar: read: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, &LineError{Msg: fmt.Sprintf("文件超过 %d 字节 the file is larger than %d bytes", MaxFileSize, MaxFileSize)}
	}
	return parse(b)
}

// The file's shape. Types that record their line implement
// yaml.Unmarshaler.
type fileDoc struct {
	Years []yearDoc `yaml:"years"`
}

type yearDoc struct {
	Year        yearNum      `yaml:"year"`
	Provisional bool         `yaml:"provisional"`
	Source      string       `yaml:"source"`
	Note        string       `yaml:"note"`
	Holidays    []holidayDoc `yaml:"holidays"`
	MakeUp      []makeUpDoc  `yaml:"makeup_workdays"`
}

type holidayDoc struct {
	Name text `yaml:"name"`
	From date `yaml:"from"`
	To   date `yaml:"to"`
}

type makeUpDoc struct {
	Date date `yaml:"date"`
	For  text `yaml:"for"`
}

// text is a string with its line.
type text struct {
	s    string
	line int
}

func (t *text) UnmarshalYAML(n *yaml.Node) error {
	t.line = n.Line
	if n.Kind != yaml.ScalarNode {
		return &LineError{Line: n.Line, Msg: "应为文本 want text"}
	}
	t.s = strings.TrimSpace(n.Value)
	return nil
}

// yearNum is a year with its line.
type yearNum struct {
	v    int
	line int
}

func (y *yearNum) UnmarshalYAML(n *yaml.Node) error {
	y.line = n.Line
	v, ok := digits(n.Value, 4)
	if n.Kind != yaml.ScalarNode || !ok || v < minYear || v > maxYear {
		return &LineError{Line: n.Line, Msg: fmt.Sprintf("年份 %q 无效，应为 %d–%d year %q is not a year in %d–%d", n.Value, minYear, maxYear, n.Value, minYear, maxYear)}
	}
	y.v = v
	return nil
}

// date is a YYYY-MM-DD date as a day number, with its line; line 0 means
// absent.
type date struct {
	day  int64
	line int
}

func (d *date) UnmarshalYAML(n *yaml.Node) error {
	d.line = n.Line
	bad := &LineError{Line: n.Line, Msg: fmt.Sprintf("日期 %q 无效，应为 YYYY-MM-DD is not a YYYY-MM-DD date", n.Value)}
	s := n.Value
	if n.Kind != yaml.ScalarNode || len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return bad
	}
	y, ok1 := digits(s[0:4], 4)
	m, ok2 := digits(s[5:7], 2)
	day, ok3 := digits(s[8:10], 2)
	if !ok1 || !ok2 || !ok3 || y < minYear-1 || y > maxYear+1 || m < 1 || m > 12 || day < 1 || day > daysIn(y, m) {
		return bad
	}
	d.day = civil(y, m, day)
	return nil
}

// digits parses exactly n ASCII digits.
func digits(s string, n int) (int, bool) {
	if len(s) != n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
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

// civil returns the day number of a valid date.
func civil(y, m, d int) int64 {
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func (d date) String() string { return dateOf(d.day, time.UTC).Format("2006-01-02") }

var weekdayZH = [...]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}

// parse decodes and checks a calendar file.
func parse(b []byte) (c *Calendar, err error) {
	// The YAML decoder is not ours; whatever it does with hostile input,
	// Load returns an error rather than crashing the server.
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, &LineError{Msg: fmt.Sprintf("无法解析 cannot parse the file: %v", p)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &LineError{Msg: "文件为空 the file is empty"}
		}
		var le *LineError
		if errors.As(err, &le) {
			return nil, le
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, typeErrors(te)
		}
		return nil, &LineError{Line: yamlLine(err), Msg: "YAML 格式错误 malformed YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &LineError{Line: extra.Line, Msg: "文件只能包含一个 YAML 文档 the file must hold a single YAML document"}
	}
	return build(doc)
}

// typeErrors turns the decoder's complaints about the file's shape into
// LineErrors without Go type names.
func typeErrors(te *yaml.TypeError) error {
	var errs []error
	for _, m := range te.Errors {
		line := yamlLine(errors.New(m))
		_, msg, ok := strings.Cut(m, ": ")
		if !ok {
			msg = m
		}
		if name, found := strings.CutPrefix(msg, "field "); found {
			name, _, _ = strings.Cut(name, " not found")
			msg = fmt.Sprintf("未知字段 %s unknown field %s", name, name)
		} else {
			if i := strings.Index(msg, " into "); i >= 0 {
				msg = msg[:i]
			}
			msg = "类型不对 wrong kind of value: " + msg
		}
		errs = append(errs, &LineError{Line: line, Msg: msg})
	}
	return errors.Join(errs...)
}

// yamlLine digs the line out of a yaml.v3 message ("yaml: line 7: …").
func yamlLine(err error) int {
	s := err.Error()
	i := strings.Index(s, "line ")
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range s[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > 1<<24 {
			return 0
		}
	}
	return n
}

// build checks the decoded file and makes the Calendar.
func build(doc fileDoc) (*Calendar, error) {
	var errs []*LineError
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if len(doc.Years) == 0 {
		fail(0, "没有任何年份（years 为空）the file lists no years")
	}
	c := &Calendar{days: map[int64]special{}, years: map[int]Year{}}
	yearLine := map[int]int{}
	seen := map[int64]int{} // day → line where it was listed
	for _, y := range doc.Years {
		if y.Year.line == 0 {
			fail(0, "有一个年份条目缺少 year a years entry has no year")
			continue
		}
		if prev, dup := yearLine[y.Year.v]; dup {
			fail(y.Year.line, "%d 年重复（第 %d 行已列出）year %d is listed twice (first on line %d)", y.Year.v, prev, y.Year.v, prev)
			continue
		}
		yearLine[y.Year.v] = y.Year.line
		source := strings.TrimSpace(y.Source)
		if source == "" && !y.Provisional {
			fail(y.Year.line, "%d 年缺少 source（国务院通知）；通知未发布的年份应标 provisional: true year %d names no source notice; mark it provisional: true if the notice is not out", y.Year.v, y.Year.v)
		}
		c.years[y.Year.v] = Year{Year: y.Year.v, Provisional: y.Provisional, Source: source, Note: strings.TrimSpace(y.Note)}
		inYear := func(d date) bool {
			// The year itself, or the December before / January after it,
			// where a New Year window may reach.
			first, last := civil(y.Year.v, 1, 1), civil(y.Year.v, 12, 31)
			return d.day >= first-31 && d.day <= last+31
		}
		names := map[string]bool{}
		for _, h := range y.Holidays {
			line := h.From.line
			if line == 0 {
				line = max(h.Name.line, h.To.line, y.Year.line)
				fail(line, "假日缺少 from a holiday has no from date")
				continue
			}
			if h.Name.s == "" {
				fail(line, "%s 的假日缺少 name the holiday from %s has no name", h.From, h.From)
			}
			names[h.Name.s] = true
			to := h.To
			if to.line == 0 {
				to = h.From
			}
			switch {
			case !inYear(h.From):
				fail(h.From.line, "%s 不在 %d 年内 is not in year %d", h.From, y.Year.v, y.Year.v)
				continue
			case !inYear(to):
				fail(to.line, "%s 不在 %d 年内 is not in year %d", to, y.Year.v, y.Year.v)
				continue
			case to.day < h.From.day:
				fail(to.line, "假日结束日 %s 早于开始日 %s the holiday ends (%s) before it starts (%s)", to, h.From, to, h.From)
				continue
			case to.day-h.From.day >= maxRange:
				fail(to.line, "假日 %s 至 %s 超过 %d 天 the holiday %s–%s is longer than %d days", h.From, to, maxRange, h.From, to, maxRange)
				continue
			}
			for d := h.From.day; d <= to.day; d++ {
				if prev, dup := seen[d]; dup {
					ds := date{day: d}.String()
					if c.days[d].makeUp != "" {
						fail(line, "%s 既是假日又是调休上班日（第 %d 行）%s is listed both as a holiday and as a make-up working day (line %d)", ds, prev, ds, prev)
					} else {
						fail(line, "%s 重复列出（第 %d 行已列出）%s is listed twice (first on line %d)", ds, prev, ds, prev)
					}
					continue
				}
				seen[d] = line
				c.days[d] = special{holiday: h.Name.s}
			}
		}
		for _, m := range y.MakeUp {
			d := m.Date
			if d.line == 0 {
				fail(max(m.For.line, y.Year.line), "调休上班日缺少 date a make-up working day has no date")
				continue
			}
			if !inYear(d) {
				fail(d.line, "%s 不在 %d 年内 is not in year %d", d, y.Year.v, y.Year.v)
				continue
			}
			if wd := weekday(d.day); wd != time.Saturday && wd != time.Sunday {
				fail(d.line, "%s 是%s，不是周末，不能作为调休上班日 is a %s, not a weekend day, so it cannot be a make-up working day", d, weekdayZH[wd], wd)
				continue
			}
			if m.For.s == "" {
				fail(d.line, "调休上班日 %s 缺少 for（所补的假日）the make-up working day %s does not say which holiday it is for", d, d)
			} else if !names[m.For.s] {
				fail(m.For.line, "调休上班日 %s 所补的假日 %q 不在 %d 年的假日中 the make-up working day %s is for %q, which is not a holiday of %d", d, m.For.s, y.Year.v, d, m.For.s, y.Year.v)
			}
			if prev, dup := seen[d.day]; dup {
				if s := c.days[d.day]; s.holiday != "" {
					fail(d.line, "%s 既是假日（第 %d 行）又是调休上班日 %s is listed both as a holiday (line %d) and as a make-up working day", d, prev, d, prev)
				} else {
					fail(d.line, "%s 重复列出（第 %d 行已列出）%s is listed twice (first on line %d)", d, prev, d, prev)
				}
				continue
			}
			seen[d.day] = d.line
			c.days[d.day] = special{makeUp: m.For.s}
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return nil, errors.Join(joined...)
	}
	for d, s := range c.days {
		switch {
		case s.makeUp != "":
			c.adjust = append(c.adjust, adjustment{day: d, delta: +1})
		case isWeekday(d):
			c.adjust = append(c.adjust, adjustment{day: d, delta: -1})
			c.holidaysOnWeekdays++
		}
	}
	sort.Slice(c.adjust, func(i, j int) bool { return c.adjust[i].day < c.adjust[j].day })
	var sum int64
	for i := range c.adjust {
		c.adjust[i].before = sum
		sum += c.adjust[i].delta
	}
	return c, nil
}
