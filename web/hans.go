package web

import "policydesk/policy"

// hans returns s in Simplified Chinese with mainland usage; see policy.Hans.
func hans(s string) string { return policy.Hans(s) }
