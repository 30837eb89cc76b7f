package desk

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"policydesk/apperr"
)

// MaxTableBytes bounds an imported list.
const MaxTableBytes = 32 << 20

// ReadTable reads a CSV (UTF-8, or GBK as Chinese spreadsheets often save
// it) or the first sheet of an XLSX file into rows of cells; the first row
// is the header. A byte-order mark is dropped.
func ReadTable(data []byte, filename string) ([][]string, error) {
	if len(data) > MaxTableBytes {
		return nil, apperr.New(apperr.TooLarge, "文件过大(上限32MB)", "file too large (32 MB)")
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) || strings.HasSuffix(strings.ToLower(filename), ".xlsx") {
		f, err := excelize.OpenReader(bytes.NewReader(data))
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "无法读取 XLSX 文件", "cannot read the XLSX file").WithField("file")
		}
		defer f.Close()
		sheets := f.GetSheetList()
		if len(sheets) == 0 {
			return nil, apperr.New(apperr.Invalid, "XLSX 文件没有工作表", "the XLSX file has no sheet").WithField("file")
		}
		rows, err := f.GetRows(sheets[0])
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "无法读取 XLSX 工作表", "cannot read the sheet").WithField("file")
		}
		return rows, nil
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		dec, _, err := transform.Bytes(simplifiedchinese.GBK.NewDecoder(), data)
		if err != nil || !utf8.Valid(dec) {
			return nil, apperr.New(apperr.Invalid, "文件编码无法识别(请使用 UTF-8 或 GBK)", "unknown encoding (use UTF-8 or GBK)").WithField("file")
		}
		data = dec
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := len(rows) + 1
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, apperr.Newf(apperr.Invalid, "CSV 第 %d 行格式错误", "CSV line %d is malformed", line).WithField("file")
		}
		rows = append(rows, rec)
	}
	return rows, nil
}
