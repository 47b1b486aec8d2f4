package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

func TestSeedFromPlanFile(t *testing.T) {
	tests := []struct {
		name, plan string
		want       *sim.Seed
	}{
		{"plan of DESIGN.md section 3", simSeedPlan, &sim.Seed{
			Datacenter: "Lab",
			Folders:    []string{"/Lab/vm/lab", "/Lab/vm/lab/web"},
			Sources: []sim.SeedSource{
				{Path: "/Lab/vm/golden/web-golden", NICs: []sim.SeedNIC{{Adapter: 1, Network: "Lab-Net"}, {Adapter: 2}}, SerialPorts: 1, Datastores: []string{"datastore1"}},
				{Path: "/Lab/vm/golden/db-golden"},
			},
		}},
		{"datacenter from paths, group keys in defaults, shared source", `
defaults:
  source: /DC9/vm/gold
  folder: "/DC9/vm/{group}"
  serial:
    - port: 2
      file: "[nfs-01] s/{name}.log"
groups:
  - name: a
  - name: b
    nics: [{adapter: 3}]
`, &sim.Seed{
			Datacenter: "DC9",
			Sources: []sim.SeedSource{
				{Path: "/DC9/vm/gold", NICs: []sim.SeedNIC{{Adapter: 3}}, SerialPorts: 2, Datastores: []string{"nfs-01"}},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "plan.yaml")
			if err := os.WriteFile(p, []byte(tt.plan), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := seedFromPlanFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("seed\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestSeedExamplePlans: every example plan seeds a simulator.
func TestSeedExamplePlans(t *testing.T) {
	plans, err := filepath.Glob("../../plans/examples/*.yaml")
	if err != nil || len(plans) == 0 {
		t.Skipf("no example plans (%v)", err)
	}
	for _, p := range plans {
		t.Run(filepath.Base(p), func(t *testing.T) {
			seed, err := seedFromPlanFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s, err := sim.Start(context.Background(), sim.Options{Seed: seed})
			if err != nil {
				t.Fatalf("seed %s: %v", p, err)
			}
			s.Close()
		})
	}
}
