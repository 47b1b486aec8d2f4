package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// TestSeedFromPlanFile: --seed loads the plan with the real loader and
// seeds what it needs: datacenter, pools, sources with the NICs, networks,
// serial ports and datastores it edits (clone folders are apply's job).
func TestSeedFromPlanFile(t *testing.T) {
	tests := []struct {
		name, plan string
		want       *sim.Seed
		err        string
	}{
		{name: "the example plan of the design", plan: simSeedPlan, want: &sim.Seed{
			Datacenter: "Lab",
			Sources: []sim.SeedSource{
				{Path: "/Lab/vm/golden/web-golden", NICs: []sim.SeedNIC{{Adapter: 1, Network: "Lab-Net"}, {Adapter: 2}}, SerialPorts: 1, Datastores: []string{"datastore1"}},
				{Path: "/Lab/vm/golden/db-golden"},
			},
		}},
		{name: "shared source, defaults, a pool", plan: `version: 1
name: x
datacenter: DC9
defaults:
  source: /DC9/vm/gold
  serial:
    - port: 2
      file: "[nfs-01] s/{name}.log"
groups:
  - name: a
    count: 1
  - name: b
    count: 1
    resourcePool: /DC9/host/C1/Resources/b
    nics: [{adapter: 3}]
`, want: &sim.Seed{
			Datacenter:    "DC9",
			ResourcePools: []string{"/DC9/host/C1/Resources/b"},
			Sources: []sim.SeedSource{
				{Path: "/DC9/vm/gold", NICs: []sim.SeedNIC{{Adapter: 3}}, SerialPorts: 2, Datastores: []string{"nfs-01"}},
			},
		}},
		{name: "an invalid plan is refused with its errors", plan: "version: 1\nname: x\ngroups: []\nbogus: 1\n", err: "plan.yaml:4:1: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "plan.yaml")
			if err := os.WriteFile(p, []byte(tt.plan), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := seedFromPlanFile(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
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
