package mirror

import (
	"runtime"
	"sync"
	"time"

	"github.com/modmirror/modmirror"
)

// An earlyAnswer is the content of a fill of a public module's .info or
// go.mod, given to the requests waiting for the fill as soon as it is
// checked, before the fill has stored it: storing it (two syncs on a
// disk), its catalog row and the module's version list follow in the
// background. The go command loads a module graph a few go.mod files at a
// time, so each of those steps is waited for once per module in a cold
// build.
//
// Only public modules answer early: their go.mod is verified against the
// public checksum database first, as always, so a mirror that loses the
// file before it is stored (a crash, a full disk) fetches the same bytes
// again; their .info carries no hash, and the first one stored is the one
// served from then on, as for any fill. Private and nosumdb modules are
// recorded in the mirror's own checksum database once stored, and a zip
// is never answered before it is stored.
type earlyAnswer struct {
	ready chan struct{} // closed once data is set
	once  sync.Once
	data  []byte
}

// answersEarly reports whether a fill of path's ext may answer before it
// has stored its file.
func (m *Mirror) answersEarly(path, ext string) bool {
	return (ext == modmirror.ExtInfo || ext == modmirror.ExtMod) && m.public(path)
}

// give sets the answer, if it is not set yet, and lets the requests
// waiting for it run before the fill goes on to store it. e may be nil.
//
// The yield is what makes the answer early. Closing ready makes a waiting
// request runnable on this goroutine's processor, and the fill's next
// steps are system calls that block it (creating, writing and syncing
// files): the request ran only once they returned or the runtime took the
// processor back, on average 3.5 ms after the answer was set for an .info
// in a cold "go mod download all" of bench/testdata/k8s, 0.01 ms with the yield
// (docs/BENCHMARKS.md).
func (e *earlyAnswer) give(data []byte) {
	if e == nil {
		return
	}
	e.once.Do(func() {
		e.data = data
		close(e.ready)
	})
	runtime.Gosched()
}

// given reports whether the answer is set. e may be nil.
func (e *earlyAnswer) given() bool {
	if e == nil {
		return false
	}
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// readyChan returns a channel closed once the answer is set; for a nil e,
// one that never is.
func (e *earlyAnswer) readyChan() <-chan struct{} {
	if e == nil {
		return nil
	}
	return e.ready
}

// file returns the answer as a file named name. It has no modification
// time: it is not the stored file, whose time is only known once stored.
func (e *earlyAnswer) file(name string) modmirror.File {
	return modmirror.MemFile(name, e.data, time.Time{})
}

// earlyFor returns the early answer of the fill of key, making one if
// there is none; made reports whether this call made it, and must then
// forget it (forgetEarly) once that fill is done.
func (m *Mirror) earlyFor(key string) (e *earlyAnswer, made bool) {
	m.earlyMu.Lock()
	defer m.earlyMu.Unlock()
	if e = m.early[key]; e == nil {
		e, made = &earlyAnswer{ready: make(chan struct{})}, true
		m.early[key] = e
	}
	return e, made
}

// forgetEarly forgets e, the early answer of key, unless another has
// taken its place.
func (m *Mirror) forgetEarly(key string, e *earlyAnswer) {
	m.earlyMu.Lock()
	defer m.earlyMu.Unlock()
	if m.early[key] == e {
		delete(m.early, key)
	}
}
