package desk

import (
	"bytes"
	"context"
	"fmt"

	"github.com/xuri/excelize/v2"

	"policydesk/money"
)

// xlsx builds a one-sheet workbook with a bold header row.
func xlsx(sheet string, header []string, rows [][]any) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	for i, h := range header {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		if err := f.SetCellValue(sheet, cell, h); err != nil {
			return nil, err
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(header), 1)
	if err := f.SetCellStyle(sheet, "A1", last, bold); err != nil {
		return nil, err
	}
	for r, row := range rows {
		for c, v := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+2)
			if err := f.SetCellValue(sheet, cell, v); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ExportBatch writes a payment batch as .xlsx for the bank: amounts as
// yuan text (no floating point), full account numbers for finance only,
// masked otherwise, and a control-total row.
func (s *Service) ExportBatch(ctx context.Context, a Actor, id string) ([]byte, error) {
	b, err := s.GetBatch(ctx, a, id)
	if err != nil {
		return nil, err
	}
	header := []string{"序号", "申请编号", "统一社会信用代码", "企业名称", "支持事项", "开户银行", "银行账号", "金额(元)", "状态", "银行流水号"}
	var rows [][]any
	for i, p := range b.Payments {
		name := p.Item
		if it := s.bundle.Item(p.Item); it != nil {
			name = it.Name
		}
		rows = append(rows, []any{i + 1, p.ApplicationID, p.USCC, p.Enterprise, name, p.BankName, p.BankAccount, money.Format(int64(p.Amount)), p.State, p.BankRef})
	}
	rows = append(rows, []any{"合计", fmt.Sprintf("%d 笔", b.Count), "", "", "", "", "", money.Format(int64(b.Total)), b.State, ""})
	return xlsx("拨付批次", header, rows)
}

// ExportPublicity writes a 公示 list as .xlsx; it is public.
func (s *Service) ExportPublicity(ctx context.Context, id string) ([]byte, error) {
	p, err := s.GetPublicity(ctx, id)
	if err != nil {
		return nil, err
	}
	header := []string{"序号", "企业名称", "统一社会信用代码", "支持事项", "政策条款", "拟支持金额(元)"}
	var rows [][]any
	for i, e := range p.Entries {
		rows = append(rows, []any{i + 1, e.Enterprise, e.USCC, e.ItemName, fmt.Sprintf("第%d条", e.Article), money.Format(int64(e.Amount))})
	}
	rows = append(rows, []any{"公示期", p.Starts + " 至 " + p.Ends, "", "", "", ""})
	return xlsx("公示名单", header, rows)
}
