package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"

	"policydesk/uscc"
)

func init() {
	register("gen profiles", "生成企业画像样本 generate N enterprise profiles (JSONL or CSV) for match", runGenProfiles)
}

func runGenProfiles(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("gen profiles", io)
	seed := fs.Uint64("seed", 29, "随机种子 seed (the same seed gives the same profiles)")
	format := fs.String("format", "jsonl", "jsonl or csv")
	outPath := fs.String("out", "-", "输出文件 output file, - for stdout")
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	n, err := strconv.Atoi(fs.Arg(0))
	if err != nil || n < 0 {
		fmt.Fprintln(io.err, "用法 usage: policydesk gen profiles N [--seed S] [--format jsonl|csv] [--out FILE]")
		return 2
	}
	out := io.out
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriterSize(out, 1<<20)
	g := profileGen{r: rand.New(rand.NewPCG(*seed, 0x2024_29))}
	var cw *csv.Writer
	if *format == "csv" {
		cw = csv.NewWriter(w)
		cw.Write(profileColumns)
	} else if *format != "jsonl" {
		fmt.Fprintln(io.err, "--format 应为 jsonl 或 csv")
		return 2
	}
	for i := range n {
		if i%4096 == 0 && ctx.Err() != nil {
			return 1
		}
		p := g.profile(i)
		if cw != nil {
			row := make([]string, len(profileColumns))
			for j, c := range profileColumns {
				row[j] = csvCell(p[c])
			}
			cw.Write(row)
			continue
		}
		data, _ := json.Marshal(p)
		w.Write(data)
		w.WriteByte('\n')
	}
	if cw != nil {
		cw.Flush()
	}
	return exitOn(w.Flush())
}

var profileColumns = []string{"uscc", "name", "in_etown", "serious_dishonesty_listed", "penalties", "ai_enterprise", "cloud_service_provider",
	"year", "compute_fees", "contract_amount", "deployment", "scenario", "project", "domestic_server_amount", "listed_on_platform",
	"filing_date", "self_developed", "publicly_released", "equipment_investment", "software_integration_investment",
	"superior_funding", "date", "tier", "level", "lead_drafter", "published", "recognized", "scope", "cost", "organizer", "events"}

func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	default:
		data, _ := json.Marshal(x)
		return string(data)
	}
}

// profileGen makes plausible, deterministic profiles: most enterprises are
// in the zone and clean, about half have compute bills, a few have
// penalties, and facts are sometimes missing so offers come out incomplete.
type profileGen struct{ r *rand.Rand }

func (g *profileGen) chance(p int) bool { return g.r.IntN(100) < p }

func (g *profileGen) yuan(lo, hi int) string {
	return strconv.Itoa(lo+g.r.IntN(hi-lo+1)) + "." + fmt.Sprintf("%02d", g.r.IntN(100))
}

func (g *profileGen) date() string {
	return fmt.Sprintf("%d-%02d-%02d", 2024+g.r.IntN(4), 1+g.r.IntN(12), 1+g.r.IntN(28))
}

func (g *profileGen) profile(i int) map[string]any {
	body := fmt.Sprintf("91110302MA%07X", i)
	body = body[:17]
	// Map hexadecimal letters outside the code's alphabet is unnecessary:
	// A–F are all in it.
	p := map[string]any{
		"uscc":                      uscc.Complete(body),
		"name":                      fmt.Sprintf("亦庄智能科技%05d有限公司", i),
		"in_etown":                  g.chance(92),
		"serious_dishonesty_listed": g.chance(1),
		"ai_enterprise":             g.chance(60),
		"cloud_service_provider":    g.chance(8),
		"year":                      2025 + g.r.IntN(2),
		"project":                   fmt.Sprintf("P%06d", i),
	}
	switch {
	case g.chance(3):
		p["penalties"] = []map[string]any{{"date": g.date(), "kind": "major_administrative"}}
	case g.chance(5):
		// unknown: the enterprise has not declared its record yet
	default:
		p["penalties"] = []any{}
	}
	if g.chance(50) {
		p["compute_fees"] = g.yuan(10_000, 90_000_000)
	}
	if g.chance(25) {
		p["contract_amount"] = g.yuan(50_000, 12_000_000)
		p["deployment"] = []string{"private", "cloud", "api", "appliance_software"}[g.r.IntN(4)]
		p["scenario"] = []string{"jiebang", "benchmark"}[g.r.IntN(2)]
	}
	if p["cloud_service_provider"] == true {
		p["domestic_server_amount"] = g.yuan(1_000_000, 200_000_000)
		p["listed_on_platform"] = g.chance(80)
	}
	if g.chance(15) {
		p["filing_date"] = g.date()
	}
	if g.chance(20) {
		p["self_developed"] = true
		p["publicly_released"] = g.chance(70)
	}
	if g.chance(20) {
		p["equipment_investment"] = g.yuan(100_000, 50_000_000)
		p["software_integration_investment"] = g.yuan(0, 20_000_000)
	}
	if g.chance(5) {
		p["superior_funding"] = g.yuan(1_000_000, 30_000_000)
	}
	if g.chance(20) {
		p["date"] = g.date()
		p["tier"] = []string{"beijing_specialized_sme", "national_little_giant"}[g.r.IntN(2)]
	}
	if g.chance(5) {
		p["level"] = []string{"international", "national", "industry", "local", "group"}[g.r.IntN(5)]
		p["lead_drafter"] = g.chance(80)
		p["published"] = true
	}
	if g.chance(5) {
		p["recognized"] = true
	}
	if g.chance(4) {
		p["scope"] = []string{"international", "domestic"}[g.r.IntN(2)]
		p["cost"] = g.yuan(100_000, 5_000_000)
		p["organizer"] = true
	}
	if g.chance(6) {
		p["events"] = []map[string]any{{"kind": "first_listing", "beijing_award": g.yuan(10_000, 500_000)}}
	}
	return p
}
