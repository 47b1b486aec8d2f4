//go:build !unix

package platform

func helperMain() int { return 0 }
