package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("plan.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("plan.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// validate checks a YAML plan against the schema the way an editor does:
// the single YAML document converted to JSON (YAML that has no single JSON
// equivalent, such as a syntax error, a second document or a repeated key,
// is rejected), then validated.
func validate(sch *jsonschema.Schema, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestExamples validates every example plan with the schema and the loader,
// and checks that each carries the yaml-language-server schema comment.
func TestExamples(t *testing.T) {
	sch := compile(t)
	paths, err := filepath.Glob("../plans/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("only %d example plans", len(paths))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(sch, data); err != nil {
			t.Errorf("%s: schema: %v", p, err)
		}
		if _, err := plan.Parse(p, data); err != nil {
			t.Errorf("%s: loader: %v", p, err)
		}
		if !strings.HasPrefix(string(data), "# yaml-language-server: $schema=../../schema/plan.schema.json\n") {
			t.Errorf("%s does not start with the yaml-language-server schema comment", p)
		}
	}
}

// TestInvalidCorpus runs the invalid plans of internal/plan/testdata/invalid
// through both: the loader rejects every one; the schema rejects those marked
// "# schema: reject" and accepts those marked "# schema: accept" (mistakes
// only the loader can see, such as collisions across groups).
func TestInvalidCorpus(t *testing.T) {
	sch := compile(t)
	paths, err := filepath.Glob("../internal/plan/testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rejected := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if _, err := plan.Parse(p, data); err == nil {
			t.Errorf("%s: the loader accepts it", name)
		}
		serr := validate(sch, data)
		switch {
		case strings.Contains(string(data), "\n# schema: reject\n"):
			rejected++
			if serr == nil {
				t.Errorf("%s: the schema accepts it", name)
			}
		case strings.Contains(string(data), "\n# schema: accept\n"):
			if serr != nil {
				t.Errorf("%s: marked schema: accept, but the schema rejects it: %v", name, serr)
			}
		default:
			t.Errorf("%s: no # schema: line", name)
		}
	}
	if rejected < 30 {
		t.Errorf("only %d plans are rejected by the schema", rejected)
	}
}

// TestSchemaDescribesEveryProperty checks that every property the schema
// defines has a description (directly or on the definition it refers to).
func TestSchemaDescribesEveryProperty(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(schema.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	n := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, p := range props {
				n++
				pm := p.(map[string]any)
				desc, _ := pm["description"].(string)
				if ref, ok := pm["$ref"].(string); ok && desc == "" {
					d, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
					desc, _ = d["description"].(string)
				}
				if len(desc) < 20 {
					t.Errorf("%s.%s has no description", path, name)
				}
			}
		}
		for k, child := range m {
			walk(path+"/"+k, child)
		}
	}
	walk("#", doc)
	if n < 30 {
		t.Errorf("only %d properties found", n)
	}
}
