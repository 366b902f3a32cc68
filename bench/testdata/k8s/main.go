// Command k8sgraph exists only for its module graph: it requires
// k8s.io/client-go v0.31.0, whose dependencies are what the mirror benchmark
// downloads with "go mod download all".
package main

import (
	_ "k8s.io/client-go/kubernetes"
)

func main() {}
