package compute

import (
	"context"
	"encoding/json"
	"strings"
	"unicode"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/store"
)

// Vendor is an AI-accelerator vendor; Domestic marks a 国产 chip. The list
// is data kept by the admin, seeded with the common domestic accelerators
// (昇腾, 寒武纪, 海光, 昆仑芯, 燧原, 摩尔线程, 沐曦, 壁仞, 天数智芯, 平头哥) and
// the usual foreign ones.
type Vendor struct {
	Name     string   `json:"name"`
	Domestic bool     `json:"domestic"`
	Aliases  []string `json:"aliases,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// Vendors lists the vendor list; it is public.
func (s *Service) Vendors(ctx context.Context) ([]Vendor, error) {
	return loadVendors(ctx, s.db)
}

func loadVendors(ctx context.Context, q querier) ([]Vendor, error) {
	rows, err := q.Query(ctx, `SELECT name, domestic, aliases, note FROM compute_vendors ORDER BY domestic DESC, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Vendor
	for rows.Next() {
		var v Vendor
		var dom int
		var aliases string
		if err := rows.Scan(&v.Name, &dom, &aliases, &v.Note); err != nil {
			return nil, err
		}
		v.Domestic = dom == 1
		_ = json.Unmarshal([]byte(aliases), &v.Aliases)
		out = append(out, v)
	}
	return out, rows.Err()
}

// vendorKey normalises a vendor's spelling: case, spaces and punctuation
// do not matter ("Huawei Ascend" = "huawei-ascend").
func vendorKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// vendorIndex maps every spelling to its vendor.
func vendorIndex(ctx context.Context, q querier) (map[string]Vendor, error) {
	vs, err := loadVendors(ctx, q)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]Vendor, len(vs)*4)
	for _, v := range vs {
		idx[vendorKey(v.Name)] = v
		for _, a := range v.Aliases {
			if k := vendorKey(a); k != "" {
				if _, taken := idx[k]; !taken {
					idx[k] = v
				}
			}
		}
	}
	return idx, nil
}

// PutVendor adds or changes a vendor (admin). An alias taken by another
// vendor is refused.
func (s *Service) PutVendor(ctx context.Context, a desk.Actor, v Vendor) error {
	if !isAdmin(a) {
		return forbidden()
	}
	var err error
	if v.Name, err = text("name", v.Name, 1, 100); err != nil {
		return err
	}
	if v.Note, err = text("note", v.Note, 0, 500); err != nil {
		return err
	}
	if len(v.Aliases) > 50 {
		return invalid("aliases", "别名过多(上限50)", "too many aliases")
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		idx, err := vendorIndex(ctx, tx)
		if err != nil {
			return err
		}
		for _, name := range append([]string{v.Name}, v.Aliases...) {
			k := vendorKey(name)
			if k == "" {
				return invalid("aliases", "别名不能为空", "an alias is empty")
			}
			if other, ok := idx[k]; ok && other.Name != v.Name {
				return apperr.New(apperr.Conflict, "名称「"+name+"」已属于厂商「"+other.Name+"」", "the name "+name+" belongs to vendor "+other.Name).WithField("aliases")
			}
		}
		var before *Vendor
		for _, o := range idx {
			if o.Name == v.Name {
				before = &o
				break
			}
		}
		aliases, _ := json.Marshal(v.Aliases)
		if v.Aliases == nil {
			aliases = []byte("[]")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_vendors (name, domestic, aliases, note, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET domestic = excluded.domestic, aliases = excluded.aliases, note = excluded.note, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			v.Name, boolInt(v.Domestic), string(aliases), v.Note, a.ID, nanos(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "vendor.put", "vendor", v.Name, "", before, v)
	})
}

// Scenario kinds of 第八条, as the engine's model_voucher names them.
const (
	ScenarioJiebang   = "jiebang"   // 揭榜挂帅
	ScenarioBenchmark = "benchmark" // 标杆型示范应用场景
)

// Scenario is an application scenario a model voucher may serve, from the
// list the admin keeps (揭榜挂帅 tasks and 标杆型示范应用场景).
type Scenario struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Active bool   `json:"active"`
}

// Scenarios lists the scenarios; it is public.
func (s *Service) Scenarios(ctx context.Context) ([]Scenario, error) {
	rows, err := s.db.Query(ctx, `SELECT code, name, kind, active FROM compute_scenarios ORDER BY kind, code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Scenario
	for rows.Next() {
		var sc Scenario
		var active int
		if err := rows.Scan(&sc.Code, &sc.Name, &sc.Kind, &active); err != nil {
			return nil, err
		}
		sc.Active = active == 1
		out = append(out, sc)
	}
	return out, rows.Err()
}

// PutScenario adds or changes a scenario (admin). Deactivating one keeps
// the contracts already naming it.
func (s *Service) PutScenario(ctx context.Context, a desk.Actor, sc Scenario) error {
	if !isAdmin(a) {
		return forbidden()
	}
	var err error
	if sc.Code, err = text("code", sc.Code, 1, 64); err != nil {
		return err
	}
	if sc.Name, err = text("name", sc.Name, 1, 200); err != nil {
		return err
	}
	if sc.Kind != ScenarioJiebang && sc.Kind != ScenarioBenchmark {
		return invalid("kind", "场景类型应为 jiebang(揭榜挂帅)或 benchmark(标杆型示范应用场景)", "kind must be jiebang or benchmark")
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO compute_scenarios (code, name, kind, active, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, active = excluded.active, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			sc.Code, sc.Name, sc.Kind, boolInt(sc.Active), a.ID, nanos(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "scenario.put", "scenario", sc.Code, "", nil, sc)
	})
}
