package cluster

import "os"

func tempDir() (string, error) { return os.MkdirTemp("", "samsa-cluster-test-") }
func removeAll(dir string)     { os.RemoveAll(dir) }
func exit(code int)            { os.Exit(code) }
