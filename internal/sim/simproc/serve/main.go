// Command serve runs the simulator for internal/sim/simproc: its argument
// is a simproc.Wire as JSON; it prints the URL and the certificate file,
// one a line, and serves on a free loopback port until its standard input
// closes (the test that started it ended or died).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/sim/simproc"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: serve OPTIONS-JSON")
		os.Exit(2)
	}
	var w simproc.Wire
	if err := json.Unmarshal([]byte(os.Args[1]), &w); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(2)
	}
	s, err := sim.Start(context.Background(), w.Options())
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	defer s.Close()
	ca, err := s.CertificateFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	fmt.Printf("%s\n%s\n", s.URL(), ca)
	_, _ = io.Copy(io.Discard, os.Stdin)
}
