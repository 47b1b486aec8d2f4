package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/iclone-plan/iclone-plan/schema"
)

var update = flag.Bool("update", false, "rewrite docs/plan-reference.md")

const reference = "../../../docs/plan-reference.md"

// The committed reference is what the schema generates: change the schema,
// then run `task docs` (go run ./internal/tools/docgen).
func TestReferenceIsUpToDate(t *testing.T) {
	got, err := Generate(schema.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(reference, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(reference)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/plan-reference.md is stale: regenerate it with `task docs` (or go run ./internal/tools/docgen) and commit it")
	}
}

// Every key of the schema is documented with its type, a description and
// examples; and every example is valid for its key's schema.
func TestEveryKeyDocumentedWithValidExamples(t *testing.T) {
	sections, err := collect(schema.JSON)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("plan.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	page, _ := Generate(schema.JSON)
	n := 0
	for _, s := range sections {
		for _, p := range s.Props {
			n++
			if p.Type == "" || len(p.Examples) == 0 || len(p.Values) != len(p.Examples) {
				t.Errorf("%s: type %q, %d examples", p.Path, p.Type, len(p.Examples))
			}
			if !bytes.Contains(page, []byte("\n### `"+p.Path+"`\n")) {
				t.Errorf("%s has no heading", p.Path)
			}
			sch, err := c.Compile("plan.schema.json" + p.Pointer)
			if err != nil {
				t.Errorf("%s: compiling %s: %v", p.Path, p.Pointer, err)
				continue
			}
			for _, v := range p.Values {
				if err := sch.Validate(v); err != nil {
					t.Errorf("%s: example %v is not valid: %v", p.Path, v, err)
				}
			}
		}
	}
	// Each key of the plan format, once: top level 7, execution 8, group 13,
	// nic 3, serial 2.
	if n != 33 {
		t.Errorf("%d keys documented, want 33", n)
	}
}

// A property without examples stops the generator rather than leaving a
// gap in the reference.
func TestMissingExampleIsAnError(t *testing.T) {
	broken := strings.Replace(string(schema.JSON), `"examples": ["Lab"],`, ``, 1)
	if broken == string(schema.JSON) {
		t.Fatal("the datacenter example is not where the test expects it")
	}
	if _, err := Generate([]byte(broken)); err == nil || !strings.Contains(err.Error(), "datacenter has no examples") {
		t.Errorf("Generate without the datacenter example: %v", err)
	}
}
