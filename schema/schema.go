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

// ReportJSON is the schema of the run report (apply --report FILE, and the
// report line of apply --json), report.schema.json.
//
//go:embed report.schema.json
var ReportJSON []byte

// EventsJSON is the schema of one line of the apply --json event stream,
// events.schema.json; its report line refers to report.schema.json.
//
//go:embed events.schema.json
var EventsJSON []byte
