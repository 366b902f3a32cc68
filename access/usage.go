package access

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Usage notes when tokens are used and writes it to their store every
// UsageInterval, so that "modmirror token list" shows each token's last
// use while requests pay only for setting a time in a map.
type Usage struct {
	store TokenStore
	log   *slog.Logger

	mu   sync.Mutex
	uses map[string]time.Time

	stop chan struct{}
	done chan struct{}
}

// UsageInterval is how often uses are written.
const UsageInterval = 10 * time.Second

// NewUsage returns a Usage that writes to store, and starts it.
func NewUsage(store TokenStore, log *slog.Logger) *Usage {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &Usage{store: store, log: log, uses: make(map[string]time.Time), stop: make(chan struct{}), done: make(chan struct{})}
	go u.loop()
	return u
}

// Note notes that the token with the id was used now.
func (u *Usage) Note(id string) {
	now := time.Now()
	u.mu.Lock()
	u.uses[id] = now
	u.mu.Unlock()
}

func (u *Usage) loop() {
	defer close(u.done)
	t := time.NewTicker(UsageInterval)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), UsageInterval)
			if err := u.Flush(ctx); err != nil {
				u.log.Warn("access: writing when tokens were last used failed; tried again later", "err", err)
			}
			cancel()
		}
	}
}

// Flush writes the uses noted so far; on failure they are kept.
func (u *Usage) Flush(ctx context.Context) error {
	u.mu.Lock()
	if len(u.uses) == 0 {
		u.mu.Unlock()
		return nil
	}
	batch := u.uses
	u.uses = make(map[string]time.Time)
	u.mu.Unlock()
	if err := u.store.Used(ctx, batch); err != nil {
		u.mu.Lock()
		for id, at := range batch {
			if old, ok := u.uses[id]; !ok || at.After(old) {
				u.uses[id] = at
			}
		}
		u.mu.Unlock()
		return err
	}
	return nil
}

// Close writes the last uses and stops.
func (u *Usage) Close() error {
	close(u.stop)
	<-u.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return u.Flush(ctx)
}
