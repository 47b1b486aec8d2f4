// Package schema holds the JSON Schema (draft 2020-12) of iclone-plan's plan
// files. plan.schema.json is the canonical file: editors reference it through
// the "# yaml-language-server: $schema=" comment, and `iclone-plan schema`
// prints the copy embedded here.
package schema

import _ "embed"

// JSON is the plan file schema, plan.schema.json, as embedded at build time.
//
//go:embed plan.schema.json
var JSON []byte
