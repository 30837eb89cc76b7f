package policy

import (
	"strings"
	"sync"

	"github.com/longbridgeapp/opencc"
)

// The bundle's text is the policy in Traditional script with Taiwan usage
// (資訊, 軟體, 人工智慧, 支援); pages show Simplified script with mainland
// usage (信息, 软件, 人工智能, 支持), as the zone published it.
//
// OpenCC's character conversion (t2s) fixes the script but not the words,
// and its Taiwan-phrase profile (tw2sp) fixes the words but also turns
// 核心 into 内核, 文件 into 文档, 新增 into 添加 and 复制 into 拷贝, which
// misquote a policy. So pages use t2s after the few phrases this policy
// needs, each checked against its text. OpenCC's dictionaries are embedded
// in the binary: conversion works offline.
var twPhrases = strings.NewReplacer(
	// Longer phrases first: the replacer tries them in this order.
	"人工智慧", "人工智能",
	"具身智慧", "具身智能",
	"智慧製造", "智能制造",
	"智慧模型", "智能模型",
	"智慧決策", "智能决策",
	"智慧算力", "智能算力",
	"智慧柔性", "智能柔性",
	"智慧感測", "智能传感",
	"智慧化", "智能化",
	"感測器", "传感器",
	"資訊", "信息",
	"軟硬體", "软硬件",
	"硬體", "硬件",
	"軟體", "软件",
	"晶片", "芯片",
	"伺服器", "服务器",
	"介面", "接口",
	"演算法", "算法",
	"網際網路", "互联网",
	"高品質", "高质量",
	"服務品質", "服务质量",
	"水準", "水平",
	"倣真", "仿真",
	"電腦", "计算机",
	"系統整合", "系统集成",
	"支援", "支持",
)

var (
	hansOnce  sync.Once
	hansConv  *opencc.OpenCC
	hansMu    sync.Mutex
	hansCache sync.Map
)

// Hans returns s in Simplified Chinese with mainland usage. Pages call it
// once per text when the catalog is built; results are cached, so traces
// may call it per request.
func Hans(s string) string {
	if v, ok := hansCache.Load(s); ok {
		return v.(string)
	}
	if s == "" {
		return s
	}
	hansOnce.Do(func() {
		if c, err := opencc.New("t2s"); err == nil {
			hansConv = c
		}
	})
	s = twPhrases.Replace(s)
	if hansConv == nil {
		return s
	}
	hansMu.Lock() // the converter's safety for concurrent use is undocumented
	out, err := hansConv.Convert(s)
	hansMu.Unlock()
	if err != nil {
		return s
	}
	hansCache.Store(s, out)
	return out
}
