// Command govc is a minimal govc (govmomi's CLI) with only the commands the
// simulator's tests use: vm.*, device.*, datastore.*, folder.* and events.
// It lets the tests drive the simulator with a real client no one here
// wrote.
package main

import (
	"os"

	"github.com/vmware/govmomi/cli"
	_ "github.com/vmware/govmomi/cli/datastore"
	_ "github.com/vmware/govmomi/cli/device"
	_ "github.com/vmware/govmomi/cli/events"
	_ "github.com/vmware/govmomi/cli/folder"
	_ "github.com/vmware/govmomi/cli/vm"
)

func main() { os.Exit(cli.Run(os.Args[1:])) }
