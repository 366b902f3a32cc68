// Package bench holds modmirror's benchmarks. It has no code of its own to
// import.
//
// # The suite
//
// bash bench/run.sh runs bench/cmd/mirrorbench, which starts modmirror,
// nginx (serving the same store as static files), a plain Go file server
// (bench/cmd/gostatic) and wrk on 127.0.0.1, and prints each figure with a
// baseline measured in the same run: warm requests per second, the version
// list, the transfer rate of a large zip, the mirror's memory under 32
// concurrent downloads, and "go mod download all" of a large real module
// graph. docs/BENCHMARKS.md explains the figures and records a run.
//
// # Micro-benchmarks
//
// The Benchmark functions in this directory run a request through the
// layers of the hit path in-process (no network), to show what each layer
// costs in time and allocations:
//
//	go test ./bench -run - -bench . -benchmem
//	go test ./bench -run - -bench Handler/info -cpuprofile cpu.out && go tool pprof -top cpu.out
//
// They are ordinary benchmarks: "go test ./..." compiles them but runs none.
package bench
