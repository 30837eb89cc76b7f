package compute

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"policydesk/money"
	"policydesk/policy"
)

// GenOptions configure GenerateSettlements.
type GenOptions struct {
	Rows      int      // data rows (header not counted)
	Contracts []string // contract ids or numbers, named in turn
	From, To  string   // the contract period the rows fall in (YYYY-MM-DD)
	Seed      uint64
	MaxAmount money.Amount // per row; default 1,000.00 yuan
	// Bad rows, spread over the file, each of the next kind in turn:
	// negative amount, unknown contract, outside the period, malformed
	// CSV, invalid date, three decimals, zero amount, another provider's
	// contract (when Foreign is set), missing invoice number.
	Bad int
	// Duplicates repeat the invoice number of an earlier good row.
	Duplicates    int
	Foreign       string // a contract of another provider
	Format        string // "csv" (default) or "jsonl"
	GBK           bool   // CSV encoded in GBK with a Chinese header, as Chinese spreadsheets save it
	InvoicePrefix string // default derived from Seed
}

// GenSummary says what GenerateSettlements wrote, for checking an import.
type GenSummary struct {
	Rows, Good, Bad, Duplicates int
	GoodAmount                  money.Amount // sum of the good rows
	GoodCardHours               CardHours
	BadLines, DupLines          []int // line numbers (the CSV header is line 1)
}

var badKinds = []string{"negative", "unknown", "outside", "malformed", "date", "decimals", "zero", "foreign", "noinvoice"}

// GenerateSettlements writes a deterministic metering export for tests and
// benchmarks: one row per day of the period in turn, amounts in fen up to
// MaxAmount, card-hours with three decimals, unique invoice numbers — and
// the bad and duplicate rows asked for.
func GenerateSettlements(w io.Writer, o GenOptions) (GenSummary, error) {
	var sum GenSummary
	if o.Rows <= 0 || len(o.Contracts) == 0 {
		return sum, errors.New("gen: rows and at least one contract are required")
	}
	from, err1 := policy.ParseDate(o.From)
	to, err2 := policy.ParseDate(o.To)
	if err1 != nil || err2 != nil || to < from {
		return sum, errors.New("gen: from and to must be dates, from ≤ to")
	}
	if o.Bad+o.Duplicates >= o.Rows {
		return sum, errors.New("gen: more bad and duplicate rows than rows")
	}
	if o.MaxAmount <= 0 {
		o.MaxAmount = 1000_00
	}
	if o.InvoicePrefix == "" {
		o.InvoicePrefix = fmt.Sprintf("G%06d", o.Seed%1_000_000)
	}
	jsonl := o.Format == "jsonl"
	if o.Format != "" && o.Format != "csv" && !jsonl {
		return sum, errors.New("gen: format must be csv or jsonl")
	}
	kinds := badKinds
	if o.Foreign == "" {
		kinds = []string{"negative", "unknown", "outside", "malformed", "date", "decimals", "zero", "noinvoice"}
	}
	if jsonl {
		var k []string
		for _, x := range kinds {
			if x != "malformed" {
				k = append(k, x)
			}
		}
		kinds = k
	}
	special := map[int]string{} // row index → "bad:<kind>" or "dup"
	for i := range o.Bad {
		special[(i+1)*o.Rows/(o.Bad+1)] = "bad:" + kinds[i%len(kinds)]
	}
	for i := range o.Duplicates {
		at := (2*i+1)*o.Rows/(2*o.Duplicates) + 1
		for at < o.Rows && special[at] != "" {
			at++
		}
		if at >= o.Rows {
			return sum, errors.New("gen: no room for the duplicates")
		}
		special[at] = "dup"
	}
	out := w
	if o.GBK {
		tw := transform.NewWriter(w, simplifiedchinese.GBK.NewEncoder())
		defer tw.Close()
		out = tw
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	lineOf := func(i int) int {
		if jsonl {
			return i + 1
		}
		return i + 2
	}
	if !jsonl {
		if o.GBK {
			bw.WriteString("合同编号,计费开始日期,计费结束日期,卡时,调用次数,结算金额,发票号码,开票日期,交付凭证号\n")
		} else {
			bw.WriteString("contract,period_start,period_end,card_hours,api_calls,amount,invoice_no,invoice_date,delivery_ref\n")
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5e771e))
	days := int(to-from) + 1
	dates := make([]string, days)
	for d := range days {
		dates[d] = (from + policy.Date(d)).String()
	}
	before := (from - 30).String()
	var good []int // invoice serials of good rows, for duplicates
	var b []byte
	for i := range o.Rows {
		kind := special[i]
		day := dates[i%days]
		contract := o.Contracts[i%len(o.Contracts)]
		amount := 1 + rng.Int64N(int64(o.MaxAmount))
		card := 1 + rng.Int64N(100_000)
		calls := rng.Int64N(10_000)
		serial := i
		start, end, amt, invoice, idate := day, day, money.Format(amount), "", day
		if kind == "dup" && len(good) > 0 {
			serial = good[len(good)/2]
		}
		invoice = o.InvoicePrefix + fmt.Sprintf("%012d", serial)
		malformed := false
		switch kind {
		case "bad:negative":
			amt = "-" + amt
		case "bad:unknown":
			contract = "ctr_nosuchcontract"
		case "bad:outside":
			start, end, idate = before, before, before
		case "bad:malformed":
			malformed = true
		case "bad:date":
			start = "2025-13-45"
		case "bad:decimals":
			amt += "5"
		case "bad:zero":
			amt = "0.00"
		case "bad:foreign":
			contract = o.Foreign
		case "bad:noinvoice":
			invoice = ""
		}
		b = b[:0]
		if jsonl {
			b = fmt.Appendf(b, `{"contract":%q,"period_start":%q,"period_end":%q,"card_hours":"%d.%03d","api_calls":%d,"amount":%q,"invoice_no":%q,"invoice_date":%q}`,
				contract, start, end, card/1000, card%1000, calls, amt, invoice, idate)
		} else {
			b = append(b, contract...)
			b = append(b, ',')
			b = append(b, start...)
			b = append(b, ',')
			b = append(b, end...)
			b = append(b, ',')
			b = strconv.AppendInt(b, card/1000, 10)
			b = append(b, '.', byte('0'+card%1000/100), byte('0'+card%100/10), byte('0'+card%10), ',')
			b = strconv.AppendInt(b, calls, 10)
			b = append(b, ',')
			b = append(b, amt...)
			b = append(b, ',')
			if malformed {
				b = append(b, `bad"quote`...)
			} else {
				b = append(b, invoice...)
			}
			b = append(b, ',')
			b = append(b, idate...)
			b = append(b, ",DLV"...)
			b = strconv.AppendInt(b, int64(i), 10)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return sum, err
		}
		sum.Rows++
		switch {
		case kind == "dup":
			sum.Duplicates++
			sum.DupLines = append(sum.DupLines, lineOf(i))
		case kind != "":
			sum.Bad++
			sum.BadLines = append(sum.BadLines, lineOf(i))
		default:
			sum.Good++
			sum.GoodAmount += money.Amount(amount)
			sum.GoodCardHours += CardHours(card)
			good = append(good, serial)
		}
	}
	return sum, bw.Flush()
}
