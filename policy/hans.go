package policy

import (
	"sync"

	"github.com/longbridgeapp/opencc"
)

// The policy file is in Traditional Chinese with Taiwan usage (資訊, 軟體,
// 伺服器, 人工智慧); the zone reads Simplified Chinese with mainland usage
// (信息, 软件, 服务器, 人工智能). Hans converts with OpenCC's tw2sp, which
// maps both the script and the idioms, and caches each string.
var (
	hansOnce  sync.Once
	hansConv  *opencc.OpenCC
	hansCache sync.Map
)

// Hans returns s in Simplified Chinese with mainland usage. If the
// converter cannot be loaded, s is returned unchanged.
func Hans(s string) string {
	if s == "" {
		return s
	}
	if v, ok := hansCache.Load(s); ok {
		return v.(string)
	}
	hansOnce.Do(func() {
		c, err := opencc.New("tw2sp")
		if err == nil {
			hansConv = c
		}
	})
	if hansConv == nil {
		return s
	}
	out, err := hansConv.Convert(s)
	if err != nil {
		return s
	}
	hansCache.Store(s, out)
	return out
}
