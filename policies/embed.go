// Package policies embeds the policy bundles shipped with policydesk, so
// the binary runs without any file beside it.
package policies

import (
	"embed"
	"io/fs"
)

//go:embed etown-ai-2024-29
var files embed.FS

// DefaultID is the bundle policydesk runs by default.
const DefaultID = "etown-ai-2024-29"

// Default returns the embedded 京技管發〔2024〕29號 bundle as a file system
// rooted at the bundle directory.
func Default() fs.FS {
	sub, err := fs.Sub(files, DefaultID)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
