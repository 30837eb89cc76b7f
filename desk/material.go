package desk

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/store"
)

// Material is an uploaded document of an application.
type Material struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// allowedTypes are the document types accepted, by sniffed content.
var allowedTypes = map[string]string{
	"application/pdf": ".pdf",
	"image/png":       ".png",
	"image/jpeg":      ".jpg",
	"application/zip": ".docx/.xlsx/.ofd", // Office Open XML and OFD are zip containers
}

// sniff returns the accepted content type of data, or "".
func sniff(data []byte, filename string) string {
	ct := http.DetectContentType(data)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if ct == "application/zip" {
		switch strings.ToLower(path.Ext(filename)) {
		case ".docx":
			return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
		case ".xlsx":
			return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		case ".ofd":
			return "application/ofd"
		}
		return ""
	}
	if _, ok := allowedTypes[ct]; ok {
		return ct
	}
	return ""
}

// Upload stores a material of an application in draft or returned for
// 补正. The content is stored once per SHA-256; its type is taken from the
// bytes, not from what the client claims.
func (s *Service) Upload(ctx context.Context, a Actor, id, kind, filename string, data []byte) (Material, error) {
	if int64(len(data)) > s.opt.MaxUpload {
		return Material{}, apperr.Newf(apperr.TooLarge, "文件超过 %d MB 上限", "file larger than %d MB", s.opt.MaxUpload>>20)
	}
	if len(data) == 0 {
		return Material{}, apperr.New(apperr.Invalid, "文件为空", "empty file").WithField("file")
	}
	filename = path.Base(strings.ReplaceAll(filename, "\\", "/"))
	if filename == "." || filename == "/" || !utf8.ValidString(filename) || utf8.RuneCountInString(filename) > 200 {
		return Material{}, apperr.New(apperr.Invalid, "文件名无效", "invalid file name").WithField("filename")
	}
	ct := sniff(data, filename)
	if ct == "" {
		return Material{}, apperr.New(apperr.UnsupportedMedia, "仅接受 PDF、PNG、JPEG、DOCX、XLSX、OFD 文件", "only PDF, PNG, JPEG, DOCX, XLSX and OFD files are accepted").WithField("file")
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	now := s.now()
	m := Material{ID: newID("mat"), Kind: kind, Filename: filename, ContentType: ct, Size: int64(len(data)), SHA256: hash, UploadedAt: now}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		app, err := s.loadApp(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.Role != RoleEnterprise || a.Enterprise != app.USCC {
			return notFound("申请")
		}
		if app.State != StateDraft && app.State != StateReturned {
			return apperr.Newf(apperr.Conflict, "申请状态为「%s」,不能上传材料", "cannot upload in state %s", StateName(app.State))
		}
		if !s.materialKind(app.Item, kind) {
			return apperr.Newf(apperr.Invalid, "支持事项 %s 没有材料类型 %q", "item %s has no material kind %q", app.Item, kind).WithField("kind")
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM desk_blobs WHERE sha256 = ?`, hash).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.Exec(ctx, `INSERT INTO desk_blobs (sha256, size, data, created_at) VALUES (?, ?, ?, ?)`, hash, len(data), data, nanos(now)); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO desk_materials (id, application_id, kind, filename, content_type, size, sha256, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, id, kind, filename, ct, m.Size, hash, a.ID, nanos(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "application.upload", "application", id, app.USCC, nil, m)
	})
	return m, err
}

func (s *Service) materialKind(item, kind string) bool {
	it := s.bundle.Item(item)
	if it == nil {
		return false
	}
	for _, m := range it.Materials {
		if m.ID == kind {
			return true
		}
	}
	return kind == "other"
}

// Materials lists an application's materials.
func (s *Service) Materials(ctx context.Context, a Actor, id string) ([]Material, error) {
	app, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if a.Role == RoleExpert && len(app.Facts) == 0 && app.USCC == "" {
		return nil, forbidden() // not yet declared free of conflicts
	}
	rows, err := s.db.Query(ctx, `SELECT id, kind, filename, content_type, size, sha256, uploaded_at FROM desk_materials WHERE application_id = ? ORDER BY uploaded_at, id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Material
	for rows.Next() {
		var m Material
		var at int64
		if err := rows.Scan(&m.ID, &m.Kind, &m.Filename, &m.ContentType, &m.Size, &m.SHA256, &at); err != nil {
			return nil, err
		}
		m.UploadedAt = fromNanos(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

// MaterialContent returns one material's bytes, for those who may see the
// application.
func (s *Service) MaterialContent(ctx context.Context, a Actor, appID, materialID string) (Material, []byte, error) {
	ms, err := s.Materials(ctx, a, appID)
	if err != nil {
		return Material{}, nil, err
	}
	for _, m := range ms {
		if m.ID == materialID {
			var data []byte
			if err := s.db.QueryRow(ctx, `SELECT data FROM desk_blobs WHERE sha256 = ?`, m.SHA256).Scan(&data); err != nil {
				return m, nil, err
			}
			return m, data, nil
		}
	}
	return Material{}, nil, notFound("材料")
}

// checkMaterials refuses a submit that lacks a material the item requires.
func (s *Service) checkMaterials(ctx context.Context, tx *store.Tx, app *Application) error {
	it := s.bundle.Item(app.Item)
	if it == nil || len(it.Materials) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT kind FROM desk_materials WHERE application_id = ?`, app.ID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return err
		}
		have[k] = true
	}
	rows.Close()
	var missing []string
	for _, m := range it.Materials {
		if !have[m.ID] {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		return apperr.Newf(apperr.Invalid, "缺少申报材料:%s", "missing materials: %s", strings.Join(missing, "、")).WithField("materials")
	}
	return nil
}
