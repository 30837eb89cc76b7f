package deskapi

import "context"

// contextT names context.Context in method-expression signatures.
type contextT = context.Context
